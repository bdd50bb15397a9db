using System.Diagnostics;
using Microsoft.Extensions.Options;
using RffService.Inference.Models;

namespace RffService.Inference.Runtime;

/// <summary>
/// Runs a model on a tensor the client built itself (the Open Inference Protocol's FP32 inputs): no decoding or
/// pre-processing, only checks that the tensor fits the model, one run, and the outputs the client asked for.
/// </summary>
public sealed class TensorInferenceService(ModelRepository repository, IOptions<InferenceOptions> options, IInferenceMetrics? metrics = null)
{
    private readonly IInferenceMetrics _metrics = metrics ?? IInferenceMetrics.None;

    /// <summary>The model by name (and version, when given), ready to run, or an exception that says why not.</summary>
    public LoadedModel Ready(string name, string? version = null)
    {
        var model = repository.Find(name) ?? throw new InferenceException(ErrorKind.NotFound, "Unknown model",
            $"There is no model named '{(name.Length > 64 ? name[..64] + "..." : name)}'.");
        if (version is not null && version != model.Version?.ToString(System.Globalization.CultureInfo.InvariantCulture))
            throw new InferenceException(ErrorKind.NotFound, "Unknown version",
                $"Model '{model.Name}' has version {model.Version?.ToString() ?? "none"} loaded, not '{(version.Length > 16 ? version[..16] + "..." : version)}'.");
        if (model.State != ModelState.Ready)
            throw new InferenceException(ErrorKind.Unavailable, "Model not ready",
                model.State == ModelState.Loading ? $"Model '{model.Name}' is still loading." : $"Model '{model.Name}' failed to load: {model.Error}");
        return model;
    }

    /// <summary>The model's own outputs (those of its graph; not the RFF activations the service exposes for explanations).</summary>
    public static IReadOnlyList<string> DeclaredOutputs(LoadedModel model)
    {
        var exposed = model.RffLayers.Select(l => l.Output).ToHashSet();
        return model.Session!.OutputNames.Where(n => !exposed.Contains(n)).ToList();
    }

    /// <summary>Checks the tensor's shape against the model's input (NCHW; the configured size unless dynamic) and runs it.</summary>
    public IReadOnlyDictionary<string, (float[] Values, long[] Shape)> Run(LoadedModel model, float[] data, long[] shape, IReadOnlyList<string> outputs)
    {
        var input = model.Config!.Input;
        if (shape.Length != 4)
            throw Invalid($"The input must have shape [N, {input.Channels}, {input.Height}, {input.Width}] (NCHW); got rank {shape.Length}.");
        if (shape[0] < 1 || shape[0] > options.Value.MaxBatchImages)
            throw new InferenceException(ErrorKind.TooLarge, "Invalid batch", $"The batch must hold 1 to {options.Value.MaxBatchImages} images; got {shape[0]}.");
        if (shape[1] != input.Channels)
            throw Invalid($"The input has {input.Channels} channel(s); got {shape[1]}.");
        if (input.DynamicSize)
        {
            int maxWidth = input.MaxWidth ?? 4 * input.Width, maxHeight = input.MaxHeight ?? 4 * input.Height;
            if (shape[2] < 1 || shape[3] < 1 || shape[2] > maxHeight || shape[3] > maxWidth)
                throw Invalid($"Height and width must be between 1 and {maxHeight} x {maxWidth}; got {shape[2]} x {shape[3]}.");
        }
        else if (shape[2] != input.Height || shape[3] != input.Width)
            throw Invalid($"The input is {input.Height} x {input.Width} (height x width); got {shape[2]} x {shape[3]}.");
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (data.Length != expected)
            throw Invalid($"Shape [{string.Join(", ", shape)}] needs {expected} values; got {data.Length}.");

        var declared = DeclaredOutputs(model);
        foreach (var name in outputs)
            if (!declared.Contains(name))
                throw Invalid($"The model has no output '{(name.Length > 64 ? name[..64] + "..." : name)}' (outputs: {string.Join(", ", declared)}).");

        var started = Stopwatch.GetTimestamp();
        var result = model.Session!.Run(data, shape, outputs);
        _metrics.InferenceRun(model.Name, "tensor", (int)shape[0], Stopwatch.GetElapsedTime(started));
        return result;
    }

    private static InferenceException Invalid(string detail) => new(ErrorKind.BadInput, "Invalid input tensor", detail);
}
