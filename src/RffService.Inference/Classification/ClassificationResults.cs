using RffService.Inference.Common;

namespace RffService.Inference.Classification;

/// <summary>One predicted class.</summary>
/// <param name="Label">Class label from the model's config.</param>
/// <param name="Index">Class index in the model's output.</param>
/// <param name="Probability">Softmax probability, 0..1.</param>
public sealed record Prediction(string Label, int Index, float Probability);

/// <summary>The classification of one image.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Version">Model version that answered.</param>
/// <param name="ImageId">Content hash of the image bytes; later requests (e.g. /cam) can refer to it.</param>
/// <param name="Predictions">Top-k classes, most probable first.</param>
/// <param name="ExecutionProvider">ONNX Runtime execution provider that ran the model.</param>
/// <param name="Timings">Timings in milliseconds.</param>
public sealed record ClassificationResult(
    string Model,
    int Version,
    string ImageId,
    IReadOnlyList<Prediction> Predictions,
    string ExecutionProvider,
    Timings Timings) : IModelResult;
