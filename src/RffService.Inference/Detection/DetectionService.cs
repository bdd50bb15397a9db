using System.Diagnostics;
using RffService.Inference.Common;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Inference.Runtime;
using RffService.Vision;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;

namespace RffService.Inference.Detection;

/// <summary>What a detection request asks for.</summary>
/// <param name="Classes">Labels or class indices to keep; null or empty keeps all.</param>
public sealed record DetectionRequest(float ScoreThreshold = DetectionRequest.DefaultScoreThreshold,
    float IouThreshold = DetectionRequest.DefaultIouThreshold, int MaxDetections = DetectionRequest.DefaultMaxDetections,
    IReadOnlyList<string>? Classes = null, bool Overlay = false)
{
    public const float DefaultScoreThreshold = 0.3f, DefaultIouThreshold = 0.45f;
    public const int DefaultMaxDetections = 100;
}

/// <summary>
/// Detects objects in a batch of encoded images with one detection model: the image pipeline, then the model's decoder
/// (softmax, box decoding, NMS) and the mapping back through the resize transform to original pixels.
/// </summary>
public sealed class DetectionService(ModelResolver resolver, ImagePipeline pipeline)
{
    public const int MaxDetectionsLimit = 1000;

    public async Task<IReadOnlyList<DetectionResult>> DetectAsync(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, DetectionRequest request,
        CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var model = resolver.Resolve(modelName, ModelTasks.Detection);
        var runtime = model.Runtime!;
        var labels = runtime.Config.Labels;
        var parameters = Parameters(request, labels);
        using var batch = await pipeline.RunAsync(model, images, keepDecoded: request.Overlay, cancellationToken: cancellationToken);
        var results = new DetectionResult[batch.Runs.Count];
        for (int i = 0; i < results.Length; i++)
        {
            var (image, outputs) = batch.Runs[i];
            var detections = Decode(runtime, image, outputs, parameters).Select(d => d.Detection).ToList();
            byte[]? png = request.Overlay ? DetectionOverlay.RenderPng(image.Decoded!, detections) : null;
            results[i] = new DetectionResult(model.Name, model.Version!.Value, image.Id, image.Width, image.Height, detections, png,
                runtime.ExecutionProvider,
                new Timings(Timings.Round(image.DecodeMs), Timings.Round(batch.InferenceMs), Timings.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds)));
        }
        return results;
    }

    /// <summary>A request's thresholds checked and turned into the decoder's parameters (class names resolved to indices).</summary>
    public static DetectionParameters Parameters(DetectionRequest request, IReadOnlyList<string> labels)
    {
        CheckFraction(request.ScoreThreshold, "scoreThreshold");
        CheckFraction(request.IouThreshold, "iouThreshold");
        if (request.MaxDetections is < 1 or > MaxDetectionsLimit)
            throw new InferenceException(ErrorKind.InvalidParameter, "Invalid maxDetections",
                $"maxDetections must be between 1 and {MaxDetectionsLimit}, got {request.MaxDetections}.");
        return new DetectionParameters(request.ScoreThreshold, request.IouThreshold, request.MaxDetections, ClassFilter(request.Classes, labels));
    }

    /// <summary>
    /// One image's detections in the original image's pixels (clipped to the image; a box that collapses to zero area
    /// there is kept, as torchvision keeps it), at full precision, each with the candidate it came from, in the order
    /// /detect answers them: the list /cam's detection index refers to.
    /// </summary>
    public static List<(Detection Detection, Candidate Candidate)> Decode(ModelRuntime runtime, PreparedImage image, RunOutputs outputs, DetectionParameters parameters)
    {
        outputs.EnsureFinite(runtime.Session.ModelName, runtime.Decoder!.OutputNames);
        var labels = runtime.Config.Labels;
        var result = new List<(Detection, Candidate)>();
        int width = image.Transform.OriginalWidth, height = image.Transform.OriginalHeight;
        foreach (var c in runtime.Decoder!.Decode(outputs, 0, parameters))
        {
            var box = image.Transform.ToOriginal(c.Box, image.Spec.Width, image.Spec.Height);
            result.Add((new Detection(labels[c.ClassIndex], c.ClassIndex, c.Score,
                new PixelBox(box.XMin, box.YMin, box.Width, box.Height),
                new NormalizedBox(box.XMin / width, box.YMin / height, box.XMax / width, box.YMax / height)), c));
        }
        return result;
    }

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
            if (!string.IsNullOrWhiteSpace(raw)) set.Add(ClassNames.IndexOf(raw, labels, "class"));
        return set.Count == 0 ? null : set;
    }
}
