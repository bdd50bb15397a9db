namespace RffService.Inference.Common;

/// <summary>A result that names the model that produced it (request logs and metrics are labelled with it).</summary>
public interface IModelResult
{
    string Model { get; }
}
