using System.Diagnostics;
using System.Globalization;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Inference.Runtime;
using RffService.Onnx.Explanations;
using RffService.Vision;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;
using RffService.Vision.Imaging;
using RffService.Vision.Postprocessing;

namespace RffService.Inference.Explanations;

/// <summary>What to explain and how (parsed and range-checked by the endpoint's query).</summary>
/// <param name="Model">Model name; the default classifier (or, with a detection, the default detector) when empty.</param>
/// <param name="Target">Class label or index; the top-1 class when empty (classifiers only).</param>
/// <param name="Method">The CAM method; Grad-CAM for classifications and Layer-CAM for detections when null.</param>
/// <param name="Layer">A layer's name or index, several separated by commas, or "all" (their normalised maps averaged); the default layer when empty.</param>
/// <param name="Alpha">Overlay opacity, 0..1.</param>
/// <param name="Colormap">The overlay's colour map; jet when null.</param>
/// <param name="BlankBaseline">Explain relative to a blank image of the input's border colour (A - A(blank)); false: raw activations.</param>
/// <param name="MeasureFaithfulness">Compute the faithfulness metrics (one extra batched run of 18 inputs).</param>
/// <param name="Channels">Score-CAM and Ablation-CAM: how many channels to score (those with the largest positive contribution, sum of ReLU(G) A); null scores all.</param>
/// <param name="Detection">The index of a detection in the /detect answer for the same image and thresholds: explains that detection.</param>
/// <param name="DetectionQuery">The thresholds that detection list was made with.</param>
/// <param name="TimeBudget">How long the request may take (the API's request timeout): an explanation estimated to take longer is refused at once.</param>
/// <param name="Ablations">Activations to switch off first: the intervened network is explained (a detection index then refers to its detections).</param>
/// <param name="Gamma">The map's contrast: its values, normalised to [0, 1], raised to this power before they are shown and scored; when null, 1 for a classification and 0.7 for a detection.</param>
public sealed record CamRequest(string? Model = null, string? Target = null, CamMethod? Method = null, string? Layer = null,
    float Alpha = CamRequest.DefaultAlpha, Colormap? Colormap = null, bool BlankBaseline = true, bool MeasureFaithfulness = true,
    int? Channels = CamRequest.DefaultChannels, int? Detection = null, DetectionRequest? DetectionQuery = null, TimeSpan? TimeBudget = null,
    IReadOnlyList<Ablation>? Ablations = null, float? Gamma = null)
{
    /// <summary>A classification's map is shown as computed.</summary>
    public const float DefaultGamma = 1f;

    /// <summary>The largest gamma a request may ask for (any gamma above 0 up to this).</summary>
    public const float MaxGamma = 10f;

    /// <summary>
    /// A detection's map is shown with more contrast in its faint parts: a single item's map is sharp, and at gamma 1 the
    /// image masked by it keeps a third of the detection's score. 0.7 is the most concentrated map that keeps more than
    /// half of it (bench/RESULTS.md: mass in the box 84.9%, average drop 46.6%, against 89.3% and 65.9% at 1).
    /// </summary>
    public const float DefaultDetectionGamma = 0.7f;

    /// <summary>Grad-CAM for classifications; Layer-CAM for a detection, whose gradient is local: Grad-CAM's channel
    /// weights average it over the whole map and light up every object with similar features.</summary>
    public const string DefaultMethod = "gradcam", DefaultDetectionMethod = "layercam";
    public const string DefaultColormap = "jet", DefaultBaseline = "blank";
    public const int DefaultChannels = 24;
    public const float DefaultAlpha = 0.5f;
}

/// <summary>Where the time of an explanation went, in milliseconds.</summary>
public sealed record CamTimings(double DecodeMs, double CamMs, double FaithfulnessMs, double RenderMs, double TotalMs);

/// <summary>An explanation: the map as PNGs (and as values at the original size), what was explained, and how faithful the map is.</summary>
public sealed record CamResult(
    string ImageId,
    string Model,
    int Version,
    string Method,
    string Layer,
    Prediction Target,
    Detection.Detection? Detection,
    byte[] OverlayPng,
    byte[] HeatmapPng,
    FaithfulnessScores? Faithfulness,
    CamTimings Timings,
    Heatmap Map,
    float Gamma,
    InterventionReport? Intervention = null) : IModelResult;

/// <summary>
/// Explains a classification, or one detection, with a class activation map method. Every model run (the image, the
/// explanation graph, Score-CAM's masked inputs, Ablation-CAM's ablations, the faithfulness batch) goes through the
/// model's queue in turn with its other work, and stops when the request is cancelled or times out.
/// </summary>
public sealed class CamService(ModelResolver resolver, ImagePipeline pipeline, Microsoft.Extensions.Options.IOptions<InferenceOptions> options)
{
    private readonly BlankReferences blanks = new();
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<ModelRuntime, ExplanationAdmission> admissions = new();

    public async Task<CamResult> ExplainAsync(ReadOnlyMemory<byte> imageBytes, CamRequest request, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        bool detection = request.Detection is not null;
        var method = request.Method ?? CamMethod.All[detection ? CamRequest.DefaultDetectionMethod : CamRequest.DefaultMethod];
        var colormap = request.Colormap ?? Colormap.ByName[CamRequest.DefaultColormap];
        int? channelLimit = request.Channels;
        if (detection && !string.IsNullOrWhiteSpace(request.Target))
            throw Invalid("Target and detection", "A detection is explained for its own class; leave target out.");

        var model = resolver.Resolve(request.Model, detection ? ModelTasks.Detection : ModelTasks.Classification);
        var runtime = model.Runtime!;
        var explainer = await runtime.Explanations.ReadyAsync(model.Name, options.Value.ExplanationCheckWait, cancellationToken);
        var layers = CamLayerNames.Resolve(explainer, request.Layer);
        using var admitted = admissions.GetOrCreateValue(runtime).Admit(model.Name, ExplanationAdmission.Passes(method, layers, request),
            runtime.Session.TimePerImage, options.Value.MaxExplanationPasses, request.TimeBudget);

        using var subject = detection
            ? await DetectionSubjectAsync(imageBytes, request, model, explainer, layers, cancellationToken)
            : await ClassSubjectAsync(imageBytes, request, runtime, explainer, layers, cancellationToken);
        var (image, target, explained, explainedDetection, run, camStarted, _, intervened, report) = subject;
        var spec = image.Spec;
        int[] inputShape = [1, spec.Channels, spec.Height, spec.Width];
        long[] tensorShape = [1, spec.Channels, spec.Height, spec.Width];
        var runner = new QueuedCamRunner(runtime, intervened, target, spec, image.Tensor);
        var blank = request.BlankBaseline ? BlankLike(image.Tensor, spec) : null;
        Task<IReadOnlyList<float[]>> BlankRun() => runner.QueueAsync(() => intervened.Activations(blank!, tensorShape, layers), cancellationToken);
        // The blank references of an intervened network depend on the intervention: not cached.
        var references = blank is null ? null : intervened.IsIntervened ? await BlankRun() : await blanks.GetAsync(runtime, layers, blank, tensorShape, BlankRun);

        var maps = new List<Heatmap>();
        CamContext? first = null;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var (activations, gradients, shape) = run.Layers[layer.Tensor];
            var context = new CamContext(layer, image.Tensor, inputShape, activations, gradients, [1, (int)shape[1], (int)shape[2], (int)shape[3]],
                references?[i], blank, runner, channelLimit);
            first ??= context;
            var map = await method.ComputeAsync(context, cancellationToken);
            maps.Add(map.Resize(spec.Height, spec.Width));
        }
        var fused = CamMethod.Fuse(maps);
        double camMs = Stopwatch.GetElapsedTime(camStarted).TotalMilliseconds;

        var faithfulnessStarted = Stopwatch.GetTimestamp();
        float gamma = request.Gamma ?? (detection ? CamRequest.DefaultDetectionGamma : CamRequest.DefaultGamma);
        var faithfulness = request.MeasureFaithfulness ? await Faithfulness.MeasureAsync(first!, fused, gamma, explained.Probability, cancellationToken) : null;
        double faithfulnessMs = Stopwatch.GetElapsedTime(faithfulnessStarted).TotalMilliseconds;

        var renderStarted = Stopwatch.GetTimestamp();
        Box? outline = explainedDetection is { Box: var b } ? new Box(b.X, b.Y, b.X + b.Width, b.Y + b.Height) : null;
        var (overlay, heatmap, originalMap) = OverlayRenderer.Render(image.Decoded!, fused, image.Transform, colormap, request.Alpha, outline,
            options.Value.CamOverlayMinimumSide, gamma);
        double renderMs = Stopwatch.GetElapsedTime(renderStarted).TotalMilliseconds;

        return new CamResult(image.Id, model.Name, model.Version!.Value, method.Name, string.Join(",", layers.Select(l => l.Name)), explained,
            explainedDetection, overlay, heatmap, faithfulness,
            new CamTimings(Timings.Round(image.DecodeMs), Timings.Round(camMs), Timings.Round(faithfulnessMs), Timings.Round(renderMs),
                Timings.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds)),
            originalMap, gamma, report);
    }

    /// <summary>What one explanation is about: the image, the target, its prediction, the explanation run, and when the CAM work began.</summary>
    /// <param name="Explainer">The model's explainer, or its intervened view when the request switches activations off.</param>
    private sealed record Subject(PreparedImage Image, CamTarget Target, Prediction Explained, Detection.Detection? Detection, ExplanationRun Run,
        long CamStarted, IDisposable Owner, Explainer Explainer, InterventionReport? Report) : IDisposable
    {
        public void Dispose() => Owner.Dispose();
    }

    /// <summary>
    /// One run of the explanation graph in the model's queue: the activations and gradients of every chosen layer for
    /// the target <paramref name="weights"/>, or for the top score when they are null.
    /// </summary>
    private static Task<ExplanationRun> RunGraphAsync(ModelRuntime runtime, Explainer explainer, PreparedImage image, float[]? weights,
        IReadOnlyList<CamLayer> layers, CancellationToken cancellationToken)
    {
        var tensor = image.Tensor;
        long[] shape = [1, image.Spec.Channels, image.Spec.Height, image.Spec.Width];
        return runtime.RunInTurnAsync(() => weights is null
            ? explainer.RunForTopScore(tensor, shape, layers)
            : explainer.Run(tensor, shape, weights, [1, .. explainer.ScoreShape], layers), cancellationToken, background: true);
    }

    /// <summary>
    /// A classification: the explanation graph also gives the scores (and, with no target named, picks the top class
    /// itself), so the image goes through the model once.
    /// </summary>
    private async Task<Subject> ClassSubjectAsync(ReadOnlyMemory<byte> imageBytes, CamRequest request, ModelRuntime runtime, Explainer explainer,
        IReadOnlyList<CamLayer> layers, CancellationToken cancellationToken)
    {
        var config = runtime.Config;
        int classes = config.Labels.Count;
        int? requested = RequestedClass(request.Target, config.Labels);
        var image = pipeline.Prepare(imageBytes, runtime, keepDecoded: true);
        try
        {
            long camStarted = Stopwatch.GetTimestamp();
            var weights = requested is { } named ? new ClassTarget(named, classes, config.Output.Probabilities).Weights(explainer.ScoreShape) : null;
            var (used, report) = await InterveneAsync(runtime, explainer, image, request,
                rankLayers => RunGraphAsync(runtime, explainer, image, weights, rankLayers, cancellationToken), cancellationToken);
            var run = await RunGraphAsync(runtime, used, image, weights, layers, cancellationToken);
            Runtime.RunOutputs.Finite(runtime.Session.ModelName, explainer.ScoreOutput, run.Scores);
            var scores = run.Scores.AsSpan(0, classes);
            int index = requested ?? TopK.Select(scores, 1)[0]; // the first highest score, as the graph's ArgMax picks it
            var probabilities = ClassificationService.Probabilities(scores, classes, config.Output.Probabilities);
            var target = new ClassTarget(index, classes, config.Output.Probabilities);
            return new Subject(image, target, new Prediction(config.Labels[index], index, probabilities[index]), null, run, camStarted, image, used, report);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A detection: the detector runs first, to find the detection (with an intervention, the intervened detector, in the
    /// same pass as the original); then the explanation graph for its class score at its default box.
    /// </summary>
    private async Task<Subject> DetectionSubjectAsync(ReadOnlyMemory<byte> imageBytes, CamRequest request, ModelEntry model, Explainer explainer,
        IReadOnlyList<CamLayer> layers, CancellationToken cancellationToken)
    {
        var runtime = model.Runtime!;
        var config = runtime.Config;
        var parameters = DetectionService.Parameters(request.DetectionQuery ?? new DetectionRequest(), config.Labels);
        ImageBatch? batch = null;
        PreparedImage? prepared = null;
        try
        {
            PreparedImage image;
            RunOutputs outputs;
            var (used, report) = (explainer, (InterventionReport?)null);
            if (request.Ablations is { Count: > 0 })
            {
                image = prepared = pipeline.Prepare(imageBytes, runtime, keepDecoded: true);
                (used, report) = await InterveneAsync(runtime, explainer, image, request,
                    rankLayers => InterventionService.RankByDetectionsAsync(runtime, explainer, image, parameters, rankLayers, cancellationToken), cancellationToken);
                long[] shape = [1, image.Spec.Channels, image.Spec.Height, image.Spec.Width];
                var compared = await runtime.RunInTurnAsync(() => used.Compare(image.Tensor, shape), cancellationToken);
                outputs = InterventionService.Outputs(compared.Intervened);
            }
            else
            {
                batch = await pipeline.RunAsync(model, [imageBytes], keepDecoded: true, cancellationToken: cancellationToken);
                (image, outputs) = batch.Runs[0];
            }
            long camStarted = Stopwatch.GetTimestamp();
            var found = DetectionService.Decode(runtime, image, outputs, parameters);
            if (request.Detection < 0 || request.Detection >= found.Count)
                throw new InferenceException(ErrorKind.NotFound, "Unknown detection",
                    $"The image has {found.Count} detection(s) with these thresholds; detection must be 0..{found.Count - 1}, got {request.Detection}.");
            var (chosen, candidate) = found[request.Detection!.Value];
            var cell = runtime.Decoder!.ScoreOf(candidate)
                ?? throw Invalid("Detection cannot be explained", "The model's detections cannot be traced back to the scores that produced them.");
            var target = new DetectionTarget(cell);
            var run = await RunGraphAsync(runtime, used, image, target.Weights(explainer.ScoreShape), layers, cancellationToken);
            var explained = new Prediction(chosen.Label, chosen.ClassIndex, target.Probability(outputs[explainer.ScoreOutput].Values));
            return new Subject(image, target, explained, chosen, run, camStarted, (IDisposable?)batch ?? image, used, report);
        }
        catch
        {
            batch?.Dispose();
            prepared?.Dispose();
            throw;
        }
    }

    /// <summary>The request's interventions planned on this image (the intervened view of the explainer), or the explainer as it is.</summary>
    private static async Task<(Explainer Explainer, InterventionReport? Report)> InterveneAsync(ModelRuntime runtime, Explainer explainer, PreparedImage image,
        CamRequest request, Func<IReadOnlyList<CamLayer>, Task<ExplanationRun>> rank, CancellationToken cancellationToken)
    {
        if (request.Ablations is not { Count: > 0 } ablations) return (explainer, null);
        return await InterventionPlanner.PlanAsync(explainer, ablations, image, rank,
            layers => InterventionService.BlankActivationsAsync(runtime, explainer, image, layers, cancellationToken));
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

    /// <summary>The class a request names (label or index), or null for the top class.</summary>
    private static int? RequestedClass(string? target, IReadOnlyList<string> labels)
    {
        return string.IsNullOrWhiteSpace(target) ? null : ClassNames.IndexOf(target, labels, "target");
    }

    private static InferenceException Invalid(string title, string detail) => new(ErrorKind.InvalidParameter, title, detail);

    /// <summary>
    /// The layers' activations for blank reference images, kept per model runtime, layer, size and fill colour: most
    /// images of one kind share a background, so the blank run is usually done once. Bounded by entries and by bytes
    /// (cleared when either is full); one entry per layer, so layer lists in any order share them.
    /// </summary>
    private sealed class BlankReferences
    {
        private const int Capacity = 256;
        private const long MaxBytes = 64L << 20;
        private readonly System.Runtime.CompilerServices.ConditionalWeakTable<ModelRuntime, Cache> _byModel = new();

        private sealed class Cache
        {
            public readonly System.Collections.Concurrent.ConcurrentDictionary<string, float[]> Entries = new();
            public long Bytes;
        }

        public async Task<IReadOnlyList<float[]>> GetAsync(ModelRuntime runtime, IReadOnlyList<CamLayer> layers, float[] blank, long[] shape,
            Func<Task<IReadOnlyList<float[]>>> compute)
        {
            var cache = _byModel.GetOrCreateValue(runtime);
            int plane = (int)(shape[2] * shape[3]);
            string image = string.Join("x", shape) + "|" +
                           string.Join(",", Enumerable.Range(0, (int)shape[1]).Select(c => blank[c * plane].ToString("R", CultureInfo.InvariantCulture)));
            var keys = layers.Select(l => l.Tensor + "|" + image).ToList();
            var known = keys.Select(k => cache.Entries.GetValueOrDefault(k)).ToList();
            if (known.All(k => k is not null)) return known!;
            var computed = await compute();
            long bytes = computed.Sum(a => (long)a.Length * sizeof(float));
            lock (cache)
            {
                if (cache.Entries.Count + keys.Count > Capacity || cache.Bytes + bytes > MaxBytes)
                {
                    cache.Entries.Clear();
                    cache.Bytes = 0;
                }
                if (bytes <= MaxBytes)
                    for (int i = 0; i < keys.Count; i++)
                        if (cache.Entries.TryAdd(keys[i], computed[i])) cache.Bytes += (long)computed[i].Length * sizeof(float);
            }
            return computed;
        }
    }
}
