using System.Diagnostics;
using Microsoft.Extensions.Options;
using RffService.Inference.Explanations;
using RffService.Inference.Imaging;
using RffService.Inference.Models;
using RffService.Inference.Postprocessing;

namespace RffService.Inference.Classification;

/// <summary>Classifies a batch of encoded images with one model: decode, pre-process, one ONNX Runtime run, softmax, top-k.</summary>
/// <remarks>Every image classified is kept for a while in the <see cref="ImageCache"/> under its id, for GET /cam.</remarks>
public sealed class ClassificationService(ModelResolver resolver, IOptions<InferenceOptions> options, ImageCache? cache = null,
    IInferenceMetrics? metrics = null)
{
    public const string Task = "classification";

    private readonly InferenceOptions _options = options.Value;
    private readonly IInferenceMetrics _metrics = metrics ?? IInferenceMetrics.None;

    /// <summary>Synchronous convenience for tools and tests.</summary>
    public IReadOnlyList<ClassificationResult> Classify(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, int topK) =>
        ClassifyAsync(images, modelName, topK).GetAwaiter().GetResult();

    /// <summary>
    /// Decodes on the caller's thread, then runs through the model's dynamic batcher (each image joins whatever other
    /// requests are queued) or, with batching off, one run per input size for this request alone.
    /// </summary>
    public async Task<IReadOnlyList<ClassificationResult>> ClassifyAsync(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, int topK,
        CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        RequestLimits.CheckImageCount(images.Count, _options.MaxBatchImages);
        if (topK < 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "Invalid topK", $"topK must be at least 1, got {topK}.");

        var model = resolver.Resolve(modelName, Task);
        var config = model.Config!;
        using var incoming = model.Batcher?.Incoming(); // tells the batcher this request's images are coming
        var tensors = new float[images.Count][];
        var specs = new InputSpec[images.Count];
        var decodeMs = new double[images.Count];
        var ids = new string[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var decodeStarted = Stopwatch.GetTimestamp();
            try
            {
                using var image = ImageDecoder.Decode(images[i].Span, _options.MaxImagePixels);
                _metrics.ImageDecoded(image.Format);
                specs[i] = InputSpec.For(config.Input, image.Width, image.Height);
                tensors[i] = new float[specs[i].TensorLength];
                ImagePreprocessor.WriteTensor(image, specs[i], tensors[i]);
            }
            catch (InferenceException ex) when (images.Count > 1)
            {
                throw new InferenceException(ex.Kind, ex.Title, $"Image {i + 1} of {images.Count}: {ex.Message}");
            }
            ids[i] = ImageId.Of(images[i].Span);
            cache?.Add(ids[i], images[i]);
            decodeMs[i] = Stopwatch.GetElapsedTime(decodeStarted).TotalMilliseconds;
        }

        var inferenceStarted = Stopwatch.GetTimestamp();
        var logits = model.Batcher is { } batcher
            ? await RunBatchedAsync(batcher, model.Session!.OutputName, tensors, specs, incoming, cancellationToken)
            : RunAlone(model, tensors, specs);
        double inferenceMs = Stopwatch.GetElapsedTime(inferenceStarted).TotalMilliseconds;
        int classes = config.Labels.Count;
        var results = new ClassificationResult[images.Count];
        var probabilities = new float[classes];
        for (int i = 0; i < images.Count; i++)
        {
            var row = logits[i].AsSpan(0, classes);
            if (config.Output.Probabilities) row.CopyTo(probabilities);
            else Softmax.Apply(row, probabilities);
            var predictions = TopK.Select(probabilities, topK)
                .Select(index => new Prediction(config.Labels[index], index, probabilities[index]))
                .ToList();
            double totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            results[i] = new ClassificationResult(model.Name, model.Version!.Value, ids[i], predictions, model.ExecutionProvider!,
                new Timings(Math.Round(decodeMs[i], 3), Math.Round(inferenceMs, 3), Math.Round(totalMs, 3)));
        }
        return results;
    }

    /// <summary>Batching off: one run per input size for this request's images alone.</summary>
    private float[][] RunAlone(LoadedModel model, float[][] tensors, InputSpec[] specs)
    {
        var logits = new float[tensors.Length][];
        foreach (var group in Enumerable.Range(0, tensors.Length).GroupBy(i => (specs[i].Width, specs[i].Height)))
        {
            var members = group.ToArray();
            var spec = specs[members[0]];
            var runStarted = Stopwatch.GetTimestamp();
            var batch = new float[members.Length * spec.TensorLength];
            for (int j = 0; j < members.Length; j++) tensors[members[j]].CopyTo(batch, j * spec.TensorLength);
            var (output, shape) = model.Session!.Run(batch, [members.Length, spec.Channels, spec.Height, spec.Width]);
            _metrics.InferenceRun(model.Name, Task, members.Length, Stopwatch.GetElapsedTime(runStarted));
            int width = (int)shape[1];
            for (int j = 0; j < members.Length; j++) logits[members[j]] = output.AsSpan(j * width, width).ToArray();
        }
        return logits;
    }

    private static async Task<float[][]> RunBatchedAsync(Batching.DynamicBatcher batcher, string output, float[][] tensors, InputSpec[] specs,
        IDisposable? incoming, CancellationToken cancellationToken)
    {
        var runs = tensors.Select((tensor, i) => batcher.InferAsync(tensor, specs[i].Channels, specs[i].Height, specs[i].Width, cancellationToken)).ToList();
        incoming?.Dispose(); // all queued
        var outputs = await System.Threading.Tasks.Task.WhenAll(runs);
        return outputs.Select(o => o[output].Values).ToArray();
    }
}
