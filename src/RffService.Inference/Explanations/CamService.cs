using System.Diagnostics;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Onnx.Explanations;
using RffService.Onnx;
using RffService.Vision.Imaging;
using RffService.Vision.Postprocessing;
using RffService.Vision;

namespace RffService.Inference.Explanations;

/// <summary>What to explain and how.</summary>
/// <param name="Model">Model name; the default classifier when empty.</param>
/// <param name="Target">Class label or index; the top-1 class when empty.</param>
/// <param name="Method">cam, gradcam, gradcampp, layercam, scorecam or ablationcam.</param>
/// <param name="Layer">Layer name or index (0-based, in graph order); the default layer when empty.</param>
/// <param name="Alpha">Overlay opacity, 0..1.</param>
/// <param name="Colormap">jet, viridis, inferno or gray.</param>
/// <param name="Baseline">blank: explain relative to a blank image of the input's border colour (A - A(blank)); none: raw activations.</param>
/// <param name="MeasureFaithfulness">Compute the faithfulness metrics (one extra batched run of 18 inputs).</param>
public sealed record CamRequest(string? Model = null, string? Target = null, string Method = CamRequest.DefaultMethod, string? Layer = null,
    float Alpha = CamRequest.DefaultAlpha, string Colormap = CamRequest.DefaultColormap, string Baseline = CamRequest.DefaultBaseline,
    bool MeasureFaithfulness = true)
{
    public const string DefaultMethod = "gradcam", DefaultColormap = "jet", DefaultBaseline = "blank";
    public const float DefaultAlpha = 0.5f;
}

/// <summary>Where the time of an explanation went, in milliseconds.</summary>
public sealed record CamTimings(double DecodeMs, double CamMs, double FaithfulnessMs, double RenderMs, double TotalMs);

/// <summary>An explanation: the map as PNGs (and as values at the original size), the class explained, and how faithful the map is.</summary>
public sealed record CamResult(
    string ImageId,
    string Model,
    int Version,
    string Method,
    string Layer,
    Prediction Target,
    byte[] OverlayPng,
    byte[] HeatmapPng,
    FaithfulnessScores? Faithfulness,
    CamTimings Timings,
    Heatmap Map) : IModelResult;

/// <summary>Explains a classifier's decision on one image with a class activation map method.</summary>
public sealed class CamService(ModelResolver resolver, ImagePipeline pipeline)
{
    public async Task<CamResult> ExplainAsync(ReadOnlyMemory<byte> imageBytes, CamRequest request, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var method = CamMethod.All.GetValueOrDefault(request.Method ?? "")
            ?? throw Invalid("Unknown method", $"method must be one of {string.Join(", ", CamMethod.All.Keys)}; got '{Text.Shorten(request.Method)}'.");
        var colormap = Colormap.ByName.GetValueOrDefault(request.Colormap ?? "")
            ?? throw Invalid("Unknown colormap", $"colormap must be one of {string.Join(", ", Colormap.ByName.Keys)}; got '{Text.Shorten(request.Colormap)}'.");
        if (!(request.Alpha >= 0 && request.Alpha <= 1))
            throw Invalid("Invalid alpha", $"alpha must be between 0 and 1; got {request.Alpha}.");
        if (request.Baseline is not ("blank" or "none"))
            throw Invalid("Unknown baseline", $"baseline must be blank or none; got '{Text.Shorten(request.Baseline)}'.");

        var model = resolver.Resolve(request.Model, ClassificationService.Task);
        var runtime = model.Runtime!;
        var explainer = runtime.Explainer ?? throw Invalid("Model cannot be explained", $"Model '{model.Name}' cannot be explained: {runtime.ExplanationError}.");
        var layer = ResolveLayer(explainer, request.Layer);
        var config = runtime.Config;
        string scores = runtime.Session.OutputName;

        using var batch = await pipeline.RunAsync(model, [imageBytes], [scores, layer.Output], keepDecoded: true, cancellationToken);
        var (image, outputs) = batch.Runs[0];
        var camStarted = Stopwatch.GetTimestamp();
        var spec = image.Spec;
        var input = image.Tensor;
        int[] inputShape = [1, spec.Channels, spec.Height, spec.Width];
        var probabilities = ClassificationService.Probabilities(outputs[scores].Values, config.Labels.Count, config.Output.Probabilities);
        int target = ResolveTarget(request.Target, config.Labels, probabilities);
        var (activations, activationShape) = outputs[layer.Output];
        float[]? reference = null;
        if (request.Baseline == "blank")
            reference = (await pipeline.RunTensorAsync(runtime, BlankLike(input, spec), spec, [layer.Output], cancellationToken))[layer.Output].Values;
        var context = new CamContext(explainer, runtime.Session, layer, input, inputShape, activations, activationShape.Select(d => (int)d).ToArray(), target, reference);
        var map = method.Compute(context);
        double camMs = Stopwatch.GetElapsedTime(camStarted).TotalMilliseconds;

        var faithfulnessStarted = Stopwatch.GetTimestamp();
        var faithfulness = request.MeasureFaithfulness ? Faithfulness.Measure(context, map, probabilities[target]) : null;
        double faithfulnessMs = Stopwatch.GetElapsedTime(faithfulnessStarted).TotalMilliseconds;

        var renderStarted = Stopwatch.GetTimestamp();
        var (overlay, heatmap, originalMap) = OverlayRenderer.Render(image.Decoded!, map.Resize(spec.Height, spec.Width), image.Transform, colormap, request.Alpha);
        double renderMs = Stopwatch.GetElapsedTime(renderStarted).TotalMilliseconds;

        return new CamResult(image.Id, model.Name, model.Version!.Value, method.Name, layer.Name,
            new Prediction(config.Labels[target], target, probabilities[target]), overlay, heatmap, faithfulness,
            new CamTimings(Timings.Round(image.DecodeMs), Timings.Round(camMs), Timings.Round(faithfulnessMs), Timings.Round(renderMs),
                Timings.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds)),
            originalMap);
    }

    /// <summary>A constant image per channel, at the median of the input's border (its background colour).</summary>
    public static float[] BlankLike(float[] input, InputSpec spec)
    {
        int plane = spec.Width * spec.Height;
        var blank = new float[input.Length];
        for (int c = 0; c < spec.Channels; c++)
        {
            var border = new List<float>();
            for (int x = 0; x < spec.Width; x++)
            {
                border.Add(input[c * plane + x]);
                border.Add(input[c * plane + (spec.Height - 1) * spec.Width + x]);
            }
            for (int y = 1; y < spec.Height - 1; y++)
            {
                border.Add(input[c * plane + y * spec.Width]);
                border.Add(input[c * plane + y * spec.Width + spec.Width - 1]);
            }
            border.Sort();
            blank.AsSpan(c * plane, plane).Fill(border[border.Count / 2]);
        }
        return blank;
    }

    private static RffLayerInfo ResolveLayer(Explainer explainer, string? layer)
    {
        if (string.IsNullOrWhiteSpace(layer)) return explainer.Layers[^1];
        var byName = explainer.Layers.FirstOrDefault(l => l.Name == layer || l.Output == layer);
        if (byName is not null) return byName;
        if (int.TryParse(layer, out int index) && index >= 0 && index < explainer.Layers.Count) return explainer.Layers[index];
        throw Invalid("Unknown layer",
            $"layer must be an RFF layer name ({string.Join(", ", explainer.Layers.Select(l => l.Name))}) or index 0..{explainer.Layers.Count - 1}; got '{Text.Shorten(layer)}'.");
    }

    private static int ResolveTarget(string? target, IReadOnlyList<string> labels, float[] probabilities)
    {
        if (string.IsNullOrWhiteSpace(target)) return TopK.Select(probabilities, 1)[0];
        for (int i = 0; i < labels.Count; i++)
            if (string.Equals(labels[i], target, StringComparison.OrdinalIgnoreCase)) return i;
        if (int.TryParse(target, out int index) && index >= 0 && index < labels.Count) return index;
        throw Invalid("Unknown target", $"target must be a class label or an index 0..{labels.Count - 1}; got '{Text.Shorten(target)}'.");
    }

    private static InferenceException Invalid(string title, string detail) => new(ErrorKind.InvalidParameter, title, detail);

}
