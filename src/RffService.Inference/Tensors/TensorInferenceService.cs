using Microsoft.Extensions.Options;
using RffService.Inference.Models;
using RffService.Inference.Runtime;
using RffService.Vision;

namespace RffService.Inference.Tensors;

/// <summary>
/// Runs a model on a tensor the client built itself (the Open Inference Protocol's FP32 inputs): no decoding or
/// pre-processing, only checks that the tensor fits the model, one run through the model's queue, and the outputs the
/// client asked for.
/// </summary>
public sealed class TensorInferenceService(IOptions<InferenceOptions> options)
{
    /// <summary>The model's own outputs (those of its graph; not the RFF activations the service exposes for explanations).</summary>
    public static IReadOnlyList<string> DeclaredOutputs(ModelRuntime runtime)
    {
        var exposed = runtime.RffLayers.Select(l => l.Output).ToHashSet();
        return runtime.Session.OutputNames.Where(n => !exposed.Contains(n)).ToList();
    }

    /// <summary>Checks the tensor's shape against the model's input (NCHW; the configured size unless dynamic) and runs it.</summary>
    public async Task<RunOutputs> RunAsync(ModelEntry model, float[] data, long[] shape, IReadOnlyList<string> outputs, CancellationToken cancellationToken = default)
    {
        var runtime = model.Runtime!;
        var input = runtime.Config.Input;
        if (shape.Length != 4)
            throw Invalid($"The input must have shape [N, {input.Channels}, {input.Height}, {input.Width}] (NCHW); got rank {shape.Length}.");
        if (shape[0] < 1 || shape[0] > options.Value.MaxBatchImages)
            throw new InferenceException(ErrorKind.TooLarge, "Invalid batch", $"The batch must hold 1 to {options.Value.MaxBatchImages} images; got {shape[0]}.");
        if (runtime.Session.FixedBatchSize is { } fixedBatch && shape[0] != fixedBatch)
            throw new InferenceException(ErrorKind.BadInput, "Invalid batch", $"This model runs exactly {fixedBatch} image(s) at a time (its batch axis is fixed); got {shape[0]}.");
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

        var declared = DeclaredOutputs(runtime);
        foreach (var name in outputs)
            if (!declared.Contains(name))
                throw Invalid($"The model has no output '{Text.Shorten(name)}' (outputs: {string.Join(", ", declared)}).");
        var result = await runtime.RunInTurnAsync(() => runtime.Session.Run(data, shape, outputs), cancellationToken);
        result.EnsureFinite(model.Name, outputs);
        return result;
    }

    private static InferenceException Invalid(string detail) => new(ErrorKind.BadInput, "Invalid input tensor", detail);
}
