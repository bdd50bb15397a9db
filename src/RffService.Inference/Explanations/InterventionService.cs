using System.Diagnostics;
using Microsoft.Extensions.Options;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Inference.Runtime;
using RffService.Onnx.Explanations;
using RffService.Vision;
using RffService.Vision.Configuration;
using RffService.Vision.Postprocessing;

namespace RffService.Inference.Explanations;

/// <summary>
/// Classifications and detections with activations switched off mid-network (<see cref="Ablation"/>): one run of a
/// graph derived from the model gives the answer with and without the intervention (the network upstream of the
/// switched layers runs once). Top K needs one explanation run first (to rank the channels), =blank the blank image's
/// activations (one run). Every run goes through the model's queue.
/// </summary>
public sealed class InterventionService(ModelResolver resolver, ImagePipeline pipeline, IOptions<InferenceOptions> options)
{
    public async Task<IReadOnlyList<ClassificationResult>> ClassifyAsync(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, int topK,
        IReadOnlyList<Ablation> ablations, CancellationToken cancellationToken = default)
    {
        if (topK < 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "Invalid topK", $"topK must be at least 1, got {topK}.");
        var model = resolver.Resolve(modelName, ModelTasks.Classification);
        var runtime = model.Runtime!;
        var explainer = await runtime.Explanations.ReadyAsync(model.Name, options.Value.ExplanationCheckWait, cancellationToken);
        var config = runtime.Config;
        var results = new List<ClassificationResult>();
        foreach (var bytes in images)
        {
            var started = Stopwatch.GetTimestamp();
            using var image = pipeline.Prepare(bytes, runtime, keepDecoded: false);
            long[] shape = InputShape(image);
            var (view, report) = await InterventionPlanner.PlanAsync(explainer, ablations, image,
                layers => runtime.RunInTurnAsync(() => explainer.RunForTopScore(image.Tensor, shape, layers), cancellationToken),
                layers => BlankActivationsAsync(runtime, explainer, image, layers, cancellationToken));
            var inferenceStarted = Stopwatch.GetTimestamp();
            var (original, intervened) = await runtime.RunInTurnAsync(() => view.Compare(image.Tensor, shape), cancellationToken);
            double inferenceMs = Stopwatch.GetElapsedTime(inferenceStarted).TotalMilliseconds;
            string output = runtime.Session.OutputName;
            float[] before = ClassProbabilities(model.Name, output, original, config), after = ClassProbabilities(model.Name, output, intervened, config);
            List<Prediction> Top(float[] p) => TopK.Select(p, topK).Select(i => new Prediction(config.Labels[i], i, p[i])).ToList();
            var changes = Enumerable.Range(0, config.Labels.Count)
                .Select(i => new ClassChange(config.Labels[i], i, before[i], after[i], after[i] - before[i])).ToList();
            results.Add(new ClassificationResult(model.Name, model.Version!.Value, image.Id, Top(after), runtime.ExecutionProvider,
                new Timings(Timings.Round(image.DecodeMs), Timings.Round(inferenceMs), Timings.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds)),
                report, Top(before), changes));
        }
        return results;
    }

    public async Task<IReadOnlyList<DetectionResult>> DetectAsync(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, DetectionRequest request,
        IReadOnlyList<Ablation> ablations, CancellationToken cancellationToken = default)
    {
        var model = resolver.Resolve(modelName, ModelTasks.Detection);
        var runtime = model.Runtime!;
        var parameters = DetectionService.Parameters(request, runtime.Config.Labels);
        var explainer = await runtime.Explanations.ReadyAsync(model.Name, options.Value.ExplanationCheckWait, cancellationToken);
        var results = new List<DetectionResult>();
        foreach (var bytes in images)
        {
            var started = Stopwatch.GetTimestamp();
            using var image = pipeline.Prepare(bytes, runtime, keepDecoded: request.Overlay);
            long[] shape = InputShape(image);
            var (view, report) = await InterventionPlanner.PlanAsync(explainer, ablations, image,
                layers => RankByDetectionsAsync(runtime, explainer, image, parameters, layers, cancellationToken),
                layers => BlankActivationsAsync(runtime, explainer, image, layers, cancellationToken));
            var inferenceStarted = Stopwatch.GetTimestamp();
            var (original, intervened) = await runtime.RunInTurnAsync(() => view.Compare(image.Tensor, shape), cancellationToken);
            double inferenceMs = Stopwatch.GetElapsedTime(inferenceStarted).TotalMilliseconds;
            var before = DetectionService.Decode(runtime, image, Outputs(original), parameters).Select(d => d.Detection).ToList();
            var after = DetectionService.Decode(runtime, image, Outputs(intervened), parameters).Select(d => d.Detection).ToList();
            byte[]? png = request.Overlay ? DetectionOverlay.RenderPng(image.Decoded!, after) : null;
            results.Add(new DetectionResult(model.Name, model.Version!.Value, image.Id, image.Width, image.Height, after, png, runtime.ExecutionProvider,
                new Timings(Timings.Round(image.DecodeMs), Timings.Round(inferenceMs), Timings.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds)),
                report, before, Compare(before, after)));
        }
        return results;
    }

    /// <summary>The activations of the un-intervened network at <paramref name="layers"/> for the image's blank (its border colour).</summary>
    internal static async Task<IReadOnlyList<float[]>> BlankActivationsAsync(ModelRuntime runtime, Explainer explainer, PreparedImage image,
        IReadOnlyList<CamLayer> layers, CancellationToken cancellationToken)
    {
        var blank = CamService.BlankLike(image.Tensor, image.Spec);
        return await runtime.RunInTurnAsync(() => explainer.Activations(blank, InputShape(image), layers), cancellationToken, background: true);
    }

    /// <summary>For top K on a detector: the gradient of the sum of the scores of every detection the original network makes.</summary>
    internal static async Task<ExplanationRun> RankByDetectionsAsync(ModelRuntime runtime, Explainer explainer, PreparedImage image,
        Vision.Detection.DetectionParameters parameters, IReadOnlyList<CamLayer> layers, CancellationToken cancellationToken)
    {
        long[] shape = InputShape(image);
        var outputs = await runtime.RunInTurnAsync(() => runtime.Session.Run(image.Tensor, shape, runtime.Decoder!.OutputNames), cancellationToken);
        var found = DetectionService.Decode(runtime, image, outputs, parameters);
        if (found.Count == 0)
            throw new InferenceException(ErrorKind.InvalidParameter, "Nothing to rank channels by",
                "top<K> ranks channels by their contribution to the detections, and the image has none with these thresholds: list the channels or use all.");
        var weights = new float[explainer.ScoreShape.Aggregate(1L, (a, b) => a * b)];
        foreach (var (_, candidate) in found)
        {
            var cell = runtime.Decoder!.ScoreOf(candidate)
                ?? throw new InferenceException(ErrorKind.InvalidParameter, "Detections cannot be traced",
                    "The model's detections cannot be traced back to the scores that produced them, so top<K> cannot rank channels: list them or use all.");
            var one = new DetectionTarget(cell).Weights(explainer.ScoreShape);
            System.Numerics.Tensors.TensorPrimitives.Add(weights, one, weights);
        }
        return await runtime.RunInTurnAsync(() => explainer.Run(image.Tensor, shape, weights, [1, .. explainer.ScoreShape], layers), cancellationToken, background: true);
    }

    /// <summary>Matches detections by class and IoU >= 0.5, best original score first.</summary>
    public static DetectionChanges Compare(IReadOnlyList<Detection.Detection> before, IReadOnlyList<Detection.Detection> after)
    {
        var unmatched = after.ToList();
        var vanished = new List<Detection.Detection>();
        var changed = new List<ChangedDetection>();
        foreach (var original in before.OrderByDescending(d => d.Score))
        {
            var match = unmatched.Where(d => d.ClassIndex == original.ClassIndex && Iou(d.Box, original.Box) >= 0.5f)
                .OrderByDescending(d => Iou(d.Box, original.Box)).FirstOrDefault();
            if (match is null)
            {
                vanished.Add(original);
                continue;
            }
            unmatched.Remove(match);
            changed.Add(new ChangedDetection(match.Label, match.ClassIndex, match.Box, original.Score, match.Score, match.Score - original.Score));
        }
        return new DetectionChanges(unmatched, vanished, changed);
    }

    private static float Iou(PixelBox a, PixelBox b)
    {
        float w = Math.Min(a.X + a.Width, b.X + b.Width) - Math.Max(a.X, b.X), h = Math.Min(a.Y + a.Height, b.Y + b.Height) - Math.Max(a.Y, b.Y);
        if (w <= 0 || h <= 0) return 0;
        float inter = w * h, union = a.Width * a.Height + b.Width * b.Height - inter;
        return union > 0 ? inter / union : 0;
    }

    private static float[] ClassProbabilities(string model, string output, Dictionary<string, (float[] Values, long[] Shape)> outputs, ModelConfig config)
    {
        if (!outputs.TryGetValue(output, out var scores))
            throw new InferenceException(ErrorKind.InvalidParameter, "Output cannot be intervened on", $"The model's output '{output}' is not a float tensor of its graph.");
        RunOutputs.Finite(model, output, scores.Values);
        return ClassificationService.Probabilities(scores.Values, config.Labels.Count, config.Output.Probabilities);
    }

    internal static RunOutputs Outputs(Dictionary<string, (float[] Values, long[] Shape)> values)
    {
        var outputs = new RunOutputs(values.Count);
        foreach (var (name, value) in values) outputs[name] = value;
        return outputs;
    }

    private static long[] InputShape(PreparedImage image) => [1, image.Spec.Channels, image.Spec.Height, image.Spec.Width];
}
