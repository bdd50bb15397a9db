using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using RffService.Onnx;
using RffService.Onnx.Runtime;
using RffService.Training.Solvers;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;
using RffService.Vision.Postprocessing;

using RffService.Training.Common;
namespace RffService.Training.Detection;

/// <summary>Architecture and training settings of an RFF-SSD.</summary>
public sealed record SsdTrainingOptions
{
    public int CanvasSize { get; init; } = 128;
    public int TrainCanvases { get; init; } = 8000;
    /// <summary>Training canvases held out to choose the penalty and the softmax temperature.</summary>
    public int ValidationCanvases { get; init; } = 500;
    public int Width1 { get; init; } = 32;
    public int Width2 { get; init; } = 128;
    public float Sigma1 { get; init; } = 5f;
    public float Sigma2 { get; init; } = 8f;
    public float MinScale { get; init; } = 0.15f;
    public float MaxScale { get; init; } = 0.55f;
    public IReadOnlyList<float> AspectRatios { get; init; } = [2f];
    /// <summary>Negative locations per positive location in the class-head fit.</summary>
    public int NegativeRatio { get; init; } = 3;
    public IReadOnlyList<double> ClassLambdas { get; init; } = [1e-4, 1e-3, 1e-2];
    public IReadOnlyList<double> BoxLambdas { get; init; } = [1e-3, 1e-2, 1e-1];
    public int Seed { get; init; } = 1;

    public string Describe() =>
        $"RffConv({Width1}, k5, sigma {Sigma1}) -> AvgPool2 -> RffConv({Width2}, k3, sigma {Sigma2}) -> AvgPool2 -> feature maps " +
        $"{CanvasSize / 8}, {CanvasSize / 16}, {CanvasSize / 32} (AvgPool2 each) -> 3x3 class and box heads; priors s {MinScale}-{MaxScale}, " +
        $"aspect ratios 1, 1', {string.Join(", ", AspectRatios)}";
}

/// <summary>A trained detector: its graph spec, priors recipe, temperature and validation result.</summary>
public sealed record TrainedDetector(RffSsdSpec Spec, PriorConfig Priors, float Temperature, double ClassLambda, double BoxLambda,
    DetectionReport Validation, IReadOnlyDictionary<string, double> Timings);

/// <summary>
/// Trains the heads of an RFF-SSD with the random backbone fixed: features of every training canvas are computed once
/// (ONNX Runtime), priors are matched to objects, and each head is a ridge regression solved in closed form — class
/// scores on one-hot targets (K + 1 per anchor) over positive locations and 3:1 negatives (a first fit with random
/// negatives, then a refit with two thirds of them mined as the hardest), box offsets on the positive anchors only.
/// The penalties are chosen, and a softmax temperature fitted, on held-out training canvases.
/// </summary>
public sealed class SsdTrainer(SsdTrainingOptions options, IReadOnlyList<string> labels)
{
    public const float EvaluationScoreThreshold = 0.01f, EvaluationIouThreshold = 0.45f;
    public const int EvaluationMaxDetections = 100;

    public const double MiningLambda = 1e-3;

    private readonly int _classes = labels.Count + 1;

    public static (RffSsdSpec Spec, PriorConfig Priors) Architecture(SsdTrainingOptions options, int classes, Random random)
    {
        var layers = new[]
        {
            RffLayerSpec.Random(1, options.Width1, 5, options.Sigma1, 2, random, pool: PoolMode.Average),
            RffLayerSpec.Random(options.Width1, options.Width2, 3, options.Sigma2, 2, random, pool: PoolMode.Average),
        };
        var spec = new RffSsdSpec(1, options.CanvasSize, layers, [2, 2, 2], classes, []);
        var priors = new PriorConfig
        {
            MinScale = options.MinScale,
            MaxScale = options.MaxScale,
            FeatureMaps = spec.MapSizes().Select(s => new FeatureMapConfig { Width = s, Height = s, AspectRatios = options.AspectRatios }).ToArray(),
        };
        return (spec, priors);
    }

    public TrainedDetector Train(CanvasGenerator canvases, Normalisation normalisation)
    {
        var timings = new Dictionary<string, double>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (spec, priorConfig) = Architecture(options, _classes, new Random(options.Seed));
        var priors = PriorGenerator.Generate(priorConfig);
        int anchors = PriorGenerator.BoxesPerCell(priorConfig.FeatureMaps[0]);
        var sizes = spec.MapSizes();
        int channels = spec.Channels, dimension = channels * 9;
        int total = options.TrainCanvases + options.ValidationCanvases;

        // 1. Canvases, their feature maps and prior matches.
        var progress = new Progress("features", total);
        var maps = sizes.Select(_ => new float[total][]).ToArray();
        var matches = new (int[] Labels, int[] Objects)[total];
        var truth = new IReadOnlyList<GroundTruth>[total];
        using (var extractor = new FeatureMapSession(spec))
        {
            const int batch = 50;
            for (int start = 0; start < total; start += batch)
            {
                int count = Math.Min(batch, total - start);
                var input = new float[count * spec.InputSize * spec.InputSize];
                for (int i = 0; i < count; i++)
                {
                    var canvas = canvases.Make(start + i);
                    normalisation.Apply(canvas.Pixels, input.AsSpan(i * canvas.Pixels.Length, canvas.Pixels.Length), width: canvas.Size);
                    truth[start + i] = canvas.Objects;
                    var normalised = canvas.Objects.Select(o => new GroundTruth(o.Label, Scale(o.Box, 1f / canvas.Size))).ToList();
                    matches[start + i] = PriorMatcher.Match(priors, normalised);
                }
                var outputs = extractor.Run(input, count);
                for (int m = 0; m < sizes.Length; m++)
                {
                    int plane = channels * sizes[m] * sizes[m];
                    for (int i = 0; i < count; i++) maps[m][start + i] = outputs[m].AsSpan(i * plane, plane).ToArray();
                }
                progress.Advance(count);
            }
        }
        timings["featuresSeconds"] = clock.Elapsed.TotalSeconds;
        PrintPriorCoverage(priors, truth, options.CanvasSize);

        var trainSet = Enumerable.Range(0, options.TrainCanvases).ToArray();
        var validationSet = Enumerable.Range(options.TrainCanvases, options.ValidationCanvases).ToArray();
        var mapOffsets = new int[sizes.Length];
        for (int m = 1; m < sizes.Length; m++) mapOffsets[m] = mapOffsets[m - 1] + sizes[m - 1] * sizes[m - 1] * anchors;
        var layout = new HeadLayout(sizes, mapOffsets, anchors, channels, _classes);

        using var gram = new GramSession(dimension);
        var random = new Random(options.Seed + 17);

        // 2. Class heads: random negatives first, then mined ones.
        var classStats = new GramAccumulator[sizes.Length];
        var firstFit = new RidgeReadout[sizes.Length];
        for (int m = 0; m < sizes.Length; m++)
        {
            // The mining model only ranks negatives: a safe, fairly large penalty will do.
            firstFit[m] = RidgeReadout.Fit(ClassStatistics(layout, m, trainSet, maps[m], matches, gram, random, null), MiningLambda);
            classStats[m] = ClassStatistics(layout, m, trainSet, maps[m], matches, gram, random, firstFit[m]);
        }
        timings["classStatisticsSeconds"] = clock.Elapsed.TotalSeconds - timings["featuresSeconds"];

        // 3. Box heads, one per map and anchor.
        var boxStats = new GramAccumulator?[sizes.Length, anchors];
        var coder = new BoxCoder([0.1f, 0.1f, 0.2f, 0.2f]);
        for (int m = 0; m < sizes.Length; m++)
            for (int a = 0; a < anchors; a++)
                boxStats[m, a] = BoxStatistics(layout, m, a, trainSet, maps[m], matches, truth, priors, coder, gram, options.CanvasSize);

        // 4. Penalties by validation mAP (the gram matrices do not depend on them), then the temperature.
        DetectionReport? best = null;
        (double Class, double Box, RidgeReadout[] ClassFits, RidgeReadout?[,] BoxFits, float T) chosen = default;
        foreach (double classLambda in options.ClassLambdas)
        {
            RidgeReadout[] classFits;
            try
            {
                classFits = classStats.Select(s => RidgeReadout.Fit(s, classLambda)).ToArray();
            }
            catch (InvalidOperationException ex)
            {
                Console.WriteLine($"  class lambda {classLambda:G3}: skipped ({ex.Message})");
                continue;
            }
            float temperature = FitTemperature(layout, classFits, validationSet, maps, matches);
            foreach (double boxLambda in options.BoxLambdas)
            {
                var boxFits = new RidgeReadout?[sizes.Length, anchors];
                for (int m = 0; m < sizes.Length; m++)
                    for (int a = 0; a < anchors; a++)
                        boxFits[m, a] = boxStats[m, a] is { } s ? RidgeReadout.Fit(s, boxLambda) : null;
                var report = Validate(layout, classFits, boxFits, temperature, validationSet, maps, truth, priorConfig);
                Console.WriteLine($"  class lambda {classLambda:G3}, box lambda {boxLambda:G3}, T {temperature:F2}: validation mAP@0.5 {report.MapAt50:F4}, COCO {report.CocoMap:F4}, agnostic {report.ClassAgnosticApAt50:F4}");
                if (best is null || report.MapAt50 > best.MapAt50) (best, chosen) = (report, (classLambda, boxLambda, classFits, boxFits, temperature));
            }
        }
        timings["totalSeconds"] = clock.Elapsed.TotalSeconds;

        var heads = new SsdHeadSpec[sizes.Length];
        for (int m = 0; m < sizes.Length; m++)
        {
            var fit = chosen.ClassFits![m];
            var classWeights = fit.Weights.Select(w => w * chosen.T).ToArray();
            var classBias = fit.Bias.Select(b => b * chosen.T).ToArray();
            var boxWeights = new float[anchors * 4 * dimension];
            var boxBias = new float[anchors * 4];
            for (int a = 0; a < anchors; a++)
                if (chosen.BoxFits![m, a] is { } boxFit)
                {
                    boxFit.Weights.CopyTo(boxWeights, a * 4 * dimension);
                    boxFit.Bias.CopyTo(boxBias, a * 4);
                }
            heads[m] = new SsdHeadSpec(anchors, classWeights, classBias, boxWeights, boxBias);
        }
        return new TrainedDetector(spec with { Heads = heads }, priorConfig, chosen.T, chosen.Class, chosen.Box, best!, timings);
    }

    /// <summary>Where the heads read and write: map sizes, prior offsets, anchors per cell.</summary>
    private sealed record HeadLayout(int[] Sizes, int[] Offsets, int Anchors, int Channels, int Classes)
    {
        public int Dimension => Channels * 9;
        public int Prior(int map, int y, int x, int anchor) => Offsets[map] + (y * Sizes[map] + x) * Anchors + anchor;
    }

    /// <summary>The 3x3 neighbourhood of a cell, (channel, dy, dx) order as the head's Conv weights; zeros outside the map.</summary>
    private static void CellFeatures(float[] map, int channels, int size, int y, int x, Span<float> row)
    {
        for (int c = 0; c < channels; c++)
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                {
                    int yy = y + dy, xx = x + dx;
                    row[c * 9 + (dy + 1) * 3 + dx + 1] = yy < 0 || xx < 0 || yy >= size || xx >= size ? 0 : map[(c * size + yy) * size + xx];
                }
    }

    private GramAccumulator ClassStatistics(HeadLayout layout, int m, int[] canvases, float[][] maps, (int[] Labels, int[] Objects)[] matches,
        GramSession gram, Random random, RidgeReadout? mining)
    {
        int size = layout.Sizes[m], anchors = layout.Anchors, outputs = anchors * _classes;
        var stream = new RidgeStream(layout.Dimension, outputs, gram);
        var row = new float[layout.Dimension];
        var target = new float[outputs];
        var scores = new float[outputs];
        foreach (int canvas in canvases)
        {
            var labelsOf = matches[canvas].Labels;
            var positives = new List<int>();
            var negatives = new List<int>();
            for (int cell = 0; cell < size * size; cell++)
            {
                bool positive = false;
                for (int a = 0; a < anchors; a++) positive |= labelsOf[layout.Prior(m, cell / size, cell % size, a)] >= 0;
                (positive ? positives : negatives).Add(cell);
            }
            int wanted = Math.Min(negatives.Count, options.NegativeRatio * Math.Max(1, positives.Count));
            List<int> chosen;
            if (mining is null)
            {
                chosen = negatives.OrderBy(_ => random.Next()).Take(wanted).ToList();
            }
            else
            {
                // Hardness: the largest margin of any object class over background among the cell's anchors.
                var hardness = negatives.Select(cell =>
                {
                    CellFeatures(maps[canvas], layout.Channels, size, cell / size, cell % size, row);
                    Predict(mining, row, scores);
                    float worst = float.MinValue;
                    for (int a = 0; a < anchors; a++)
                    {
                        var s = scores.AsSpan(a * _classes, _classes);
                        worst = Math.Max(worst, TensorPrimitives.Max(s[1..]) - s[0]);
                    }
                    return (cell, worst);
                }).OrderByDescending(h => h.worst).Select(h => h.cell).ToList();
                int hard = (2 * wanted + 2) / 3;
                chosen = hardness.Take(hard).Concat(hardness.Skip(hard).OrderBy(_ => random.Next()).Take(wanted - hard)).ToList();
            }
            foreach (int cell in positives.Concat(chosen))
            {
                int y = cell / size, x = cell % size;
                CellFeatures(maps[canvas], layout.Channels, size, y, x, row);
                Array.Clear(target);
                for (int a = 0; a < anchors; a++)
                    target[a * _classes + labelsOf[layout.Prior(m, y, x, a)] + 1] = 1; // background (-1) -> column 0
                stream.Add(row, target);
            }
        }
        var statistics = stream.Statistics();
        Console.WriteLine($"  map {m + 1} class head: {statistics.Count} rows ({(mining is null ? "random" : "mined")} negatives)");
        return statistics;
    }

    private static GramAccumulator? BoxStatistics(HeadLayout layout, int m, int a, int[] canvases, float[][] maps, (int[] Labels, int[] Objects)[] matches,
        IReadOnlyList<GroundTruth>[] truth, float[] priors, BoxCoder coder, GramSession gram, float canvasSize)
    {
        int size = layout.Sizes[m];
        var stream = new RidgeStream(layout.Dimension, 4, gram);
        var row = new float[layout.Dimension];
        var target = new float[4];
        foreach (int canvas in canvases)
            for (int cell = 0; cell < size * size; cell++)
            {
                int prior = layout.Prior(m, cell / size, cell % size, a);
                int o = matches[canvas].Objects[prior];
                if (o < 0) continue;
                CellFeatures(maps[canvas], layout.Channels, size, cell / size, cell % size, row);
                coder.Encode(Scale(truth[canvas][o].Box, 1f / canvasSize), priors.AsSpan(prior * 4, 4), target);
                stream.Add(row, target);
            }
        return stream.Rows == 0 ? null : stream.Statistics();
    }

    private static void Predict(RidgeReadout readout, ReadOnlySpan<float> row, Span<float> output)
    {
        for (int o = 0; o < readout.Classes; o++)
            output[o] = TensorPrimitives.Dot(readout.Weights.AsSpan(o * readout.Dimension, readout.Dimension), row) + readout.Bias[o];
    }

    /// <summary>The raw head outputs of one canvas, laid out as the exported model's "scores" and "boxes".</summary>
    private (float[] Scores, float[] Boxes) HeadOutputs(HeadLayout layout, RidgeReadout[] classFits, RidgeReadout?[,] boxFits, float temperature, float[][] canvasMaps)
    {
        int priors = layout.Offsets[^1] + layout.Sizes[^1] * layout.Sizes[^1] * layout.Anchors;
        var scores = new float[priors * _classes];
        var boxes = new float[priors * 4];
        var row = new float[layout.Dimension];
        var classOut = new float[layout.Anchors * _classes];
        var boxOut = new float[4];
        for (int m = 0; m < layout.Sizes.Length; m++)
        {
            int size = layout.Sizes[m];
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    CellFeatures(canvasMaps[m], layout.Channels, size, y, x, row);
                    Predict(classFits[m], row, classOut);
                    int first = layout.Prior(m, y, x, 0);
                    TensorPrimitives.Multiply(classOut, temperature, scores.AsSpan(first * _classes, classOut.Length));
                    for (int a = 0; a < layout.Anchors; a++)
                        if (boxFits[m, a] is { } fit)
                        {
                            Predict(fit, row, boxOut);
                            boxOut.CopyTo(boxes, (first + a) * 4);
                        }
                }
        }
        return (scores, boxes);
    }

    /// <summary>The temperature T of softmax(T y) with the least negative log-likelihood over every prior of the validation canvases.</summary>
    private float FitTemperature(HeadLayout layout, RidgeReadout[] classFits, int[] canvases, float[][][] maps, (int[] Labels, int[] Objects)[] matches)
    {
        var raw = canvases.Select(c => HeadOutputs(layout, classFits, new RidgeReadout?[layout.Sizes.Length, layout.Anchors], 1f, maps.Select(m => m[c]).ToArray()).Scores).ToArray();
        double Nll(float t)
        {
            double sum = 0;
            long count = 0;
            var logits = new float[_classes];
            var p = new float[_classes];
            for (int i = 0; i < canvases.Length; i++)
            {
                var labelsOf = matches[canvases[i]].Labels;
                for (int prior = 0; prior < labelsOf.Length; prior++)
                {
                    TensorPrimitives.Multiply(raw[i].AsSpan(prior * _classes, _classes), t, logits);
                    Softmax.Apply(logits, p);
                    sum -= Math.Log(Math.Max(p[labelsOf[prior] + 1], 1e-12));
                    count++;
                }
            }
            return sum / count;
        }
        return Enumerable.Range(0, 40).Select(i => MathF.Pow(10, i / 20f)).MinBy(Nll); // 1 .. 100
    }

    private DetectionReport Validate(HeadLayout layout, RidgeReadout[] classFits, RidgeReadout?[,] boxFits, float temperature, int[] canvases,
        float[][][] maps, IReadOnlyList<GroundTruth>[] truth, PriorConfig priorConfig)
    {
        var decoder = new SsdDecoder(new DetectionConfig { Priors = priorConfig }, labels.Count);
        var parameters = new DetectionParameters(EvaluationScoreThreshold, EvaluationIouThreshold, EvaluationMaxDetections);
        var detections = new List<ScoredBox>();
        for (int i = 0; i < canvases.Length; i++)
        {
            var (scores, boxes) = HeadOutputs(layout, classFits, boxFits, temperature, maps.Select(m => m[canvases[i]]).ToArray());
            var outputs = new Dictionary<string, (float[], long[])>
            {
                ["scores"] = (scores, [1, scores.Length / _classes, _classes]),
                ["boxes"] = (boxes, [1, boxes.Length / 4, 4]),
            };
            float side = options.CanvasSize;
            foreach (var c in decoder.Decode(outputs, 0, parameters))
                detections.Add(new ScoredBox(i, c.ClassIndex, c.Score, Scale(c.Box, side)));
        }
        return DetectionMetrics.Evaluate(detections, canvases.Select(c => truth[c]).ToArray(), labels);
    }

    /// <summary>How many objects some prior overlaps by IoU &gt;= 0.5 (the rest are matched only by their best prior).</summary>
    private static void PrintPriorCoverage(float[] priors, IReadOnlyList<GroundTruth>[] truth, int canvasSize)
    {
        int covered = 0, objects = 0;
        var boxes = Enumerable.Range(0, priors.Length / 4).Select(p => Box.FromCentre(priors[p * 4], priors[p * 4 + 1], priors[p * 4 + 2], priors[p * 4 + 3])).ToArray();
        foreach (var o in truth.Take(1000).SelectMany(t => t))
        {
            objects++;
            var box = Scale(o.Box, 1f / canvasSize);
            if (boxes.Any(p => Box.IoU(p, box) >= PriorMatcher.Threshold)) covered++;
        }
        Console.WriteLine($"  priors: {boxes.Length}; {covered} of {objects} objects ({(double)covered / objects:P1}) have a prior with IoU >= {PriorMatcher.Threshold}");
    }

    private static Box Scale(Box box, float factor) => new(box.XMin * factor, box.YMin * factor, box.XMax * factor, box.YMax * factor);

    /// <summary>The backbone through ONNX Runtime, returning every feature map of a batch.</summary>
    private sealed class FeatureMapSession : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly RffSsdSpec _spec;

        public FeatureMapSession(RffSsdSpec spec)
        {
            _spec = spec;
            _session = new SessionFactory(SessionSettings.Cpu).Create(RffSsdBuilder.BuildFeatureMaps(spec)).Session;
        }

        public float[][] Run(float[] input, int count)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(input, [count, _spec.InputChannels, _spec.InputSize, _spec.InputSize]);
            using var runOptions = new RunOptions();
            var names = Enumerable.Range(0, _spec.MapPools.Count).Select(RffSsdBuilder.MapName).ToArray();
            using var outputs = _session.Run(runOptions, [RffSsdBuilder.InputName], [value], names);
            return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }

        public void Dispose() => _session.Dispose();
    }
}
