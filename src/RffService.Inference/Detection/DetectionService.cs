using System.Diagnostics;
using Microsoft.Extensions.Options;
using RffService.Inference.Classification;
using RffService.Inference.Explanations;
using RffService.Inference.Imaging;
using RffService.Inference.Models;

namespace RffService.Inference.Detection;

/// <summary>
/// Detects objects in a batch of encoded images with one detection model: decode, pre-process, one ONNX Runtime run,
/// the model's decoder (softmax, box decoding, NMS), and mapping back through the resize transform to original pixels.
/// </summary>
public sealed class DetectionService(ModelResolver resolver, IOptions<InferenceOptions> options, ImageCache? cache = null,
    IInferenceMetrics? metrics = null)
{
    public const string Task = "detection";
    public const int MaxDetectionsLimit = 1000;

    private readonly InferenceOptions _options = options.Value;
    private readonly IInferenceMetrics _metrics = metrics ?? IInferenceMetrics.None;

    /// <summary>Synchronous convenience for tools and tests.</summary>
    public IReadOnlyList<DetectionResult> Detect(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, float scoreThreshold,
        float iouThreshold, int maxDetections, IReadOnlyList<string>? classes = null, bool overlay = false) =>
        DetectAsync(images, modelName, scoreThreshold, iouThreshold, maxDetections, classes, overlay).GetAwaiter().GetResult();

    /// <param name="classes">Labels or class indices to keep; null or empty keeps all.</param>
    public async Task<IReadOnlyList<DetectionResult>> DetectAsync(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, float scoreThreshold,
        float iouThreshold, int maxDetections, IReadOnlyList<string>? classes = null, bool overlay = false, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        RequestLimits.CheckImageCount(images.Count, _options.MaxBatchImages);
        CheckFraction(scoreThreshold, "scoreThreshold");
        CheckFraction(iouThreshold, "iouThreshold");
        if (maxDetections is < 1 or > MaxDetectionsLimit)
            throw new InferenceException(ErrorKind.InvalidParameter, "Invalid maxDetections",
                $"maxDetections must be between 1 and {MaxDetectionsLimit}, got {maxDetections}.");

        var model = resolver.Resolve(modelName, Task);
        var config = model.Config!;
        using var incoming = model.Batcher?.Incoming(); // tells the batcher this request's images are coming
        var parameters = new DetectionParameters(scoreThreshold, iouThreshold, maxDetections, ClassFilter(classes, config.Labels));
        var spec = InputSpec.From(config.Input);
        var decoded = new DecodedImage?[images.Count];
        try
        {
            var tensor = new float[images.Count * spec.TensorLength];
            var transforms = new ResizeTransform[images.Count];
            var ids = new string[images.Count];
            var decodeMs = new double[images.Count];
            for (int i = 0; i < images.Count; i++)
            {
                var decodeStarted = Stopwatch.GetTimestamp();
                try
                {
                    decoded[i] = ImageDecoder.Decode(images[i].Span, _options.MaxImagePixels);
                    _metrics.ImageDecoded(decoded[i]!.Format);
                }
                catch (InferenceException ex) when (images.Count > 1)
                {
                    throw new InferenceException(ex.Kind, ex.Title, $"Image {i + 1} of {images.Count}: {ex.Message}");
                }
                transforms[i] = ImagePreprocessor.WriteTensor(decoded[i]!, spec, tensor.AsSpan(i * spec.TensorLength, spec.TensorLength));
                ids[i] = ImageId.Of(images[i].Span);
                cache?.Add(ids[i], images[i]);
                decodeMs[i] = Stopwatch.GetElapsedTime(decodeStarted).TotalMilliseconds;
            }

            var inferenceStarted = Stopwatch.GetTimestamp();
            var candidates = model.Batcher is { } batcher
                ? await RunBatchedAsync(model, batcher, tensor, images.Count, spec, parameters, incoming, cancellationToken)
                : Run(model, tensor, images.Count, spec, parameters);
            double inferenceMs = Stopwatch.GetElapsedTime(inferenceStarted).TotalMilliseconds;

            var results = new DetectionResult[images.Count];
            for (int i = 0; i < images.Count; i++)
            {
                var image = decoded[i]!;
                var detections = ToOriginal(candidates[i], transforms[i], spec, config.Labels);
                string? png = overlay ? Convert.ToBase64String(DetectionOverlay.RenderPng(image, detections)) : null;
                double totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                results[i] = new DetectionResult(model.Name, model.Version!.Value, ids[i], image.Width, image.Height, detections, png,
                    model.ExecutionProvider!, new Timings(Math.Round(decodeMs[i], 3), Math.Round(inferenceMs, 3), Math.Round(totalMs, 3)));
            }
            return results;
        }
        finally
        {
            foreach (var image in decoded) image?.Dispose();
        }
    }

    /// <summary>Each image through the model's dynamic batcher (with other requests' images), then the decoder.</summary>
    private static async Task<List<Candidate>[]> RunBatchedAsync(LoadedModel model, Batching.DynamicBatcher batcher, float[] tensor, int count,
        InputSpec spec, DetectionParameters parameters, IDisposable? incoming, CancellationToken cancellationToken)
    {
        var runs = Enumerable.Range(0, count).Select(i =>
            batcher.InferAsync(tensor.AsSpan(i * spec.TensorLength, spec.TensorLength).ToArray(), spec.Channels, spec.Height, spec.Width, cancellationToken)).ToList();
        incoming?.Dispose(); // all queued
        var outputs = await System.Threading.Tasks.Task.WhenAll(runs);
        return outputs.Select(o => model.Detector!.Decode(o, 0, parameters)).ToArray();
    }

    /// <summary>Batching off: one run for this request (or one per image for a model without a batch axis), then the decoder.</summary>
    private List<Candidate>[] Run(LoadedModel model, float[] tensor, int count, InputSpec spec, DetectionParameters parameters)
    {
        var decoder = model.Detector!;
        var result = new List<Candidate>[count];
        if (model.DetectorBatches)
        {
            long started = Stopwatch.GetTimestamp();
            var outputs = model.Session!.Run(tensor, [count, spec.Channels, spec.Height, spec.Width], decoder.OutputNames);
            _metrics.InferenceRun(model.Name, Task, count, Stopwatch.GetElapsedTime(started));
            for (int i = 0; i < count; i++) result[i] = decoder.Decode(outputs, i, parameters);
            return result;
        }
        for (int i = 0; i < count; i++)
        {
            var single = tensor.AsSpan(i * spec.TensorLength, spec.TensorLength).ToArray();
            long started = Stopwatch.GetTimestamp();
            var outputs = model.Session!.Run(single, [1, spec.Channels, spec.Height, spec.Width], decoder.OutputNames);
            _metrics.InferenceRun(model.Name, Task, 1, Stopwatch.GetElapsedTime(started));
            result[i] = decoder.Decode(outputs, 0, parameters);
        }
        return result;
    }

    /// <summary>Input-fraction boxes to original pixels (undoing stretch or letterbox), clipped to the image; empty boxes dropped.</summary>
    public static List<Detection> ToOriginal(IReadOnlyList<Candidate> candidates, ResizeTransform transform, InputSpec spec, IReadOnlyList<string> labels)
    {
        var detections = new List<Detection>(candidates.Count);
        int width = transform.OriginalWidth, height = transform.OriginalHeight;
        foreach (var c in candidates)
        {
            var (x0, y0) = transform.ToOriginal(c.Box.XMin * spec.Width, c.Box.YMin * spec.Height);
            var (x1, y1) = transform.ToOriginal(c.Box.XMax * spec.Width, c.Box.YMax * spec.Height);
            var box = new Box(x0, y0, x1, y1).Clip(width, height);
            if (box.Area <= 0) continue;
            detections.Add(new Detection(labels[c.ClassIndex], c.ClassIndex, MathF.Round(c.Score, 5),
                new PixelBox(Round(box.XMin), Round(box.YMin), Round(box.Width), Round(box.Height)),
                new NormalizedBox(box.XMin / width, box.YMin / height, box.XMax / width, box.YMax / height)));
        }
        return detections;
    }

    private static float Round(float value) => MathF.Round(value, 2);

    private static void CheckFraction(float value, string name)
    {
        if (!(value >= 0 && value <= 1))
            throw new InferenceException(ErrorKind.InvalidParameter, $"Invalid {name}", $"{name} must be between 0 and 1, got {value}.");
    }

    /// <summary>Class names (case-insensitive) or indices to a set of indices; an unknown class is a 422.</summary>
    private static HashSet<int>? ClassFilter(IReadOnlyList<string>? classes, IReadOnlyList<string> labels)
    {
        if (classes is null || classes.Count == 0) return null;
        var set = new HashSet<int>();
        foreach (var raw in classes)
        {
            string name = raw.Trim();
            if (name.Length == 0) continue;
            int index = -1;
            for (int i = 0; i < labels.Count; i++)
                if (string.Equals(labels[i], name, StringComparison.OrdinalIgnoreCase)) index = i;
            if (index < 0 && int.TryParse(name, out int parsed) && parsed >= 0 && parsed < labels.Count) index = parsed;
            if (index < 0)
                throw new InferenceException(ErrorKind.InvalidParameter, "Unknown class",
                    $"'{(name.Length <= 64 ? name : name[..64] + "...")}' is not one of the model's labels ({string.Join(", ", labels)}) or a class index below {labels.Count}.");
            set.Add(index);
        }
        return set.Count == 0 ? null : set;
    }
}
