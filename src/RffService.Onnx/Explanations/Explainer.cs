using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;

namespace RffService.Onnx.Explanations;

/// <summary>A layer explanations can use: a 4-D feature map of the model.</summary>
/// <param name="Name">Layer name: the producing node's name (an RFF layer's node), else the tensor's.</param>
/// <param name="Tensor">The tensor holding the layer's output.</param>
/// <param name="Kind">"rff" for an RFF layer, else the producing operator.</param>
/// <param name="Channels">Channels at the model's nominal input size.</param>
/// <param name="Height">Height at the nominal size.</param>
/// <param name="Width">Width at the nominal size.</param>
/// <param name="LinearAfter">Everything between the layer and the scores is affine in it, so CAM is an exact decomposition.</param>
/// <param name="Refusal">Why the layer is not offered (an operator without a gradient rule, a failed self-check), or null.</param>
public sealed record CamLayer(string Name, string Tensor, string Kind, long Channels, long Height, long Width, bool LinearAfter, string? Refusal)
{
    public bool Usable => Refusal is null;
}

/// <summary>The outputs of one explanation run: the scores and, per layer, activations and gradients ([N, C, h, w]).</summary>
public sealed record ExplanationRun(float[] Scores, long[] ScoresShape, IReadOnlyDictionary<string, (float[] Activations, float[] Gradients, long[] Shape)> Layers);

/// <summary>
/// Explanations of one model version, computed by ONNX Runtime. At load it prepares the graph, finds the CAM layers
/// (the RFF layers and every other 4-D feature map on the way to the scores), derives the gradient graph, and checks it
/// against central finite differences of the forward model on a seeded random input along random directions: a layer
/// whose gradient disagrees, or whose path holds an operator without a gradient rule, is not offered, with the reason.
/// Sessions for the layer sets requests ask for are built on first use and kept.
/// </summary>
public sealed class Explainer : IDisposable
{
    /// <summary>
    /// The largest relative disagreement a layer may show at load along its gradient's own direction, where the
    /// directional derivative is largest and finite differences are most precise: a scaled or partly wrong gradient shows
    /// here.
    /// </summary>
    public const double SelfCheckTolerance = 1e-2;

    /// <summary>
    /// The same along random directions, where the derivative is about sqrt(n) times smaller and float32 rounding and the
    /// kinks of ReLU and max pooling leave a few percent of noise on a deep path: an error the gradient direction cannot
    /// show (orthogonal to it) shows here.
    /// </summary>
    public const double RandomDirectionTolerance = 5e-2;

    /// <summary>
    /// Finite-difference steps, as fractions of the layer's RMS activation: large ones rise above float32 rounding, small
    /// ones stay inside the linear pieces of ReLU and max pooling. The gradient must agree with one of them.
    /// </summary>
    public static readonly double[] StepFractions = [1e-2, 1e-3, 1e-4];

    /// <summary>The random jitter the check point adds to every layer, as a fraction of its RMS activation.</summary>
    public const double JitterFraction = 1e-2;

    private static readonly HashSet<string> FeatureOps =
    [
        "Conv", "Relu", "LeakyRelu", "BatchNormalization", "Add", "Sum", "MaxPool", "AveragePool", "Sigmoid", "Tanh", "HardSwish",
        "HardSigmoid", "Clip", "Concat", "Cos", "Mul", "Sin",
    ];

    private static readonly HashSet<string> AffineOps =
    [
        "Identity", "Dropout", "Cast", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "AveragePool",
        "GlobalAveragePool", "Pad", "ReduceMean", "ReduceSum", "Neg", "Add", "Sub", "Mul", "Div", "Gemm", "MatMul",
    ];

    private readonly PreparedModel _prepared;
    private readonly SessionFactory _sessions;
    private readonly ConcurrentDictionary<string, Lazy<OrtSession>> _graphs = new();

    private Explainer(PreparedModel prepared, string scoreOutput, IReadOnlyList<CamLayer> layers, CamLayer? defaultLayer, SessionFactory sessions)
    {
        _prepared = prepared;
        ScoreOutput = scoreOutput;
        Layers = layers;
        DefaultLayer = defaultLayer;
        _sessions = sessions;
    }

    /// <summary>Every candidate layer, in graph order, usable or not (with the reason).</summary>
    public IReadOnlyList<CamLayer> Layers { get; }
    /// <summary>The last usable RFF layer, else the last usable feature map.</summary>
    public CamLayer? DefaultLayer { get; }
    /// <summary>The output explanations score (a classifier's logits, a detector's class scores).</summary>
    public string ScoreOutput { get; }
    public long[] ScoreShape => _prepared.Shapes[ScoreOutput][1..];

    /// <summary>Analyses a model; throws <see cref="NotSupportedException"/> when no explanation can be offered at all.</summary>
    /// <param name="inputShape">The input at its nominal size, batch first.</param>
    /// <param name="rffOutputs">The RFF layers' output tensors, by layer name.</param>
    public static Explainer Create(ModelProto model, string inputName, long[] inputShape, string scoreOutput,
        IReadOnlyDictionary<string, string> rffOutputs, SessionFactory sessions, int seed = 1) =>
        Create(model, inputName, inputShape, scoreOutput, rffOutputs, sessions, seed, editCheckedGraph: null);

    /// <param name="editCheckedGraph">Tests only: edits the gradient graph the self-check runs, to show that it catches a wrong gradient.</param>
    internal static Explainer Create(ModelProto model, string inputName, long[] inputShape, string scoreOutput,
        IReadOnlyDictionary<string, string> rffOutputs, SessionFactory sessions, int seed, Action<ModelProto>? editCheckedGraph)
    {
        var prepared = PreparedModel.Prepare(model, inputName, inputShape, sessions);
        if (!prepared.IsFloat(scoreOutput)) throw new NotSupportedException($"the score output '{scoreOutput}' is not a float tensor");
        var candidates = Candidates(prepared, scoreOutput, rffOutputs);
        if (candidates.Count == 0) throw new NotSupportedException("the model has no 4-D feature map on the way to its scores");
        var layers = new List<CamLayer>();
        foreach (var layer in candidates)
        {
            try
            {
                ExplanationGraph.Build(prepared, [layer.Tensor], scoreOutput);
                layers.Add(layer);
            }
            catch (NotSupportedException ex)
            {
                layers.Add(layer with { Refusal = ex.Message });
            }
        }
        var explainer = new Explainer(prepared, scoreOutput, layers, null, sessions);
        layers = explainer.SelfCheck(layers, seed, editCheckedGraph);
        var usable = layers.Where(l => l.Usable).ToList();
        var chosen = usable.LastOrDefault(l => l.Kind == "rff") ?? usable.LastOrDefault();
        return new Explainer(prepared, scoreOutput, layers, chosen, sessions);
    }

    /// <summary>
    /// One run of the explanation graph for <paramref name="layers"/>: input [N, C, H, W], target weights shaped like the
    /// scores, and optional perturbations of the layers' activations (zeros when absent).
    /// </summary>
    public ExplanationRun Run(float[] input, long[] inputShape, float[] target, long[] targetShape, IReadOnlyList<CamLayer> layers,
        IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? deltas = null) =>
        Run(Graph(layers, topScoreTarget: false).Session, input, inputShape, (target, targetShape), layers, deltas);

    /// <summary>One run that explains each input's top score (along the score output's last axis, the first on ties): a classifier's top class.</summary>
    public ExplanationRun RunForTopScore(float[] input, long[] inputShape, IReadOnlyList<CamLayer> layers) =>
        Run(Graph(layers, topScoreTarget: true).Session, input, inputShape, null, layers, null);

    private ExplanationRun Run(InferenceSession session, float[] input, long[] inputShape, (float[] Values, long[] Shape)? target, IReadOnlyList<CamLayer> layers,
        IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? deltas)
    {
        var names = new List<string> { _prepared.InputName };
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(input, inputShape) };
        if (target is { } t)
        {
            names.Add(ExplanationGraph.TargetInput);
            values.Add(OrtValue.CreateTensorValueFromMemory(t.Values, t.Shape));
        }
        try
        {
            foreach (var layer in layers)
            {
                names.Add(ExplanationGraph.PerturbationInput(layer.Tensor));
                values.Add(deltas is not null && deltas.TryGetValue(layer.Tensor, out var delta)
                    ? OrtValue.CreateTensorValueFromMemory(delta.Values, delta.Shape)
                    : OrtValue.CreateTensorValueFromMemory(new float[1], [1, 1, 1, 1]));
            }
            var outputNames = new List<string> { ScoreOutput };
            foreach (var layer in layers)
                outputNames.AddRange([ExplanationGraph.ActivationOutput(layer.Tensor), ExplanationGraph.GradientOutput(layer.Tensor)]);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, names, values, outputNames);
            var perLayer = new Dictionary<string, (float[], float[], long[])>();
            for (int i = 0; i < layers.Count; i++)
                perLayer[layers[i].Tensor] = (outputs[1 + 2 * i].GetTensorDataAsSpan<float>().ToArray(), outputs[2 + 2 * i].GetTensorDataAsSpan<float>().ToArray(),
                    outputs[1 + 2 * i].GetTensorTypeAndShape().Shape);
            return new ExplanationRun(outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[0].GetTensorTypeAndShape().Shape, perLayer);
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>The score output for a batch of inputs whose activations at <paramref name="layer"/> are moved by <paramref name="deltas"/> (a forward run only).</summary>
    public float[] Scores(float[] inputs, long[] inputShape, CamLayer layer, float[] deltas, long[] deltaShape) =>
        ScoresWithDelta(Session("perturbed", [layer], () => ExplanationGraph.BuildForward(_prepared, [layer.Tensor], ScoreOutput)).Session,
            layer, [layer], inputs, inputShape, deltas, deltaShape);

    /// <summary>The activations of <paramref name="layers"/> for a batch of inputs (a forward run only, no gradient).</summary>
    public IReadOnlyList<float[]> Activations(float[] inputs, long[] inputShape, IReadOnlyList<CamLayer> layers)
    {
        var session = Session("activations", layers, () => ActivationsGraph(layers)).Session;
        using var input = OrtValue.CreateTensorValueFromMemory(inputs, inputShape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [_prepared.InputName], [input], layers.Select(l => l.Tensor).ToArray());
        return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToList();
    }

    private ModelProto ActivationsGraph(IReadOnlyList<CamLayer> layers)
    {
        var model = _prepared.Model.Clone();
        model.Graph.Output.Clear();
        foreach (var layer in layers)
            model.Graph.Output.Add(new ValueInfoProto
            {
                Name = layer.Tensor,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        return model;
    }

    private OrtSession Graph(IReadOnlyList<CamLayer> layers, bool topScoreTarget) =>
        Session(topScoreTarget ? "gradient of the top score" : "gradient", layers,
            () => ExplanationGraph.Build(_prepared, layers.Select(l => l.Tensor).ToList(), ScoreOutput, topScoreTarget));

    /// <summary>A session of one kind of graph for a set of layers, built on first use and kept.</summary>
    private OrtSession Session(string kind, IReadOnlyList<CamLayer> layers, Func<ModelProto> build) =>
        _graphs.GetOrAdd(kind + "\n" + string.Join("\n", layers.Select(l => l.Tensor)), _ => new Lazy<OrtSession>(() => _sessions.Create(build()))).Value;

    /// <summary>
    /// Compares each layer's gradient with central finite differences of the forward model: a seeded random input and
    /// target; per layer, the gradient's own direction and two random ones; all layers' gradients from one run and each
    /// layer's differences from one batched run. A layer that disagrees by more than <see cref="SelfCheckTolerance"/>
    /// (<see cref="RandomDirectionTolerance"/> along random directions) is refused.
    /// </summary>
    private List<CamLayer> SelfCheck(List<CamLayer> layers, int seed, Action<ModelProto>? editGraph)
    {
        var candidates = layers.Where(l => l.Usable).ToList();
        if (candidates.Count == 0) return layers;
        var random = new Random(seed);
        long[] inputShape = [1, .. _prepared.InputShape[1..]];
        var input = Gaussian(random, Length(inputShape));
        long[] targetShape = [1, .. ScoreShape];
        var target = Gaussian(random, Length(targetShape));
        // Graphs with every candidate layer, for this check only (requests build the graphs they need): the gradients from
        // one run of the gradient graph, each layer's finite differences from one batched run of the forward graph.
        OrtSession gradientSession, forwardSession;
        var tensors = candidates.Select(l => l.Tensor).ToList();
        try
        {
            var graph = ExplanationGraph.Build(_prepared, tensors, ScoreOutput);
            editGraph?.Invoke(graph);
            gradientSession = _sessions.Create(graph);
            forwardSession = _sessions.Create(ExplanationGraph.BuildForward(_prepared, tensors, ScoreOutput));
        }
        catch (OnnxRuntimeException ex)
        {
            var reason = $"the gradient graph could not be loaded by ONNX Runtime: {ex.Message}";
            return layers.Select(l => l.Usable ? l with { Refusal = reason } : l).ToList();
        }
        using var ownedGradient = gradientSession;
        using var ownedForward = forwardSession;
        // The check runs at a point where every layer is moved by a small random jitter (1% of its RMS activation): ReLU's
        // exact zeros would otherwise tie in max pooling, where the function has no derivative, only the subgradient
        // the rules (like torch) pass to the first maximum.
        var plain = Run(gradientSession.Session, input, inputShape, (target, targetShape), candidates, null);
        var jitters = candidates.ToDictionary(l => l.Tensor, l =>
        {
            var (activations, _, shape) = plain.Layers[l.Tensor];
            double rms = Math.Sqrt(activations.Sum(a => (double)a * a) / activations.Length);
            return (Gaussian(random, activations.Length).Select(v => (float)(v * JitterFraction * Math.Max(rms, 1e-2))).ToArray(), shape);
        });
        var reference = Run(gradientSession.Session, input, inputShape, (target, targetShape), candidates, jitters);
        var checkedLayers = new Dictionary<string, string?>();
        foreach (var layer in candidates)
            checkedLayers[layer.Tensor] = CheckLayer(forwardSession.Session, layer, candidates, reference, jitters, input, inputShape, target, random);
        return layers.Select(l => l.Usable && checkedLayers[l.Tensor] is { } reason ? l with { Refusal = reason } : l).ToList();
    }

    private string? CheckLayer(InferenceSession forward, CamLayer layer, List<CamLayer> all, ExplanationRun reference,
        Dictionary<string, (float[] Values, long[] Shape)> jitters, float[] input, long[] inputShape, float[] target, Random random)
    {
        const int directions = 3;
        double[] offsets = [1, -1, 0.5, -0.5]; // central differences at h and h/2, for Richardson extrapolation
        var (activations, gradients, shape) = reference.Layers[layer.Tensor];
        int size = activations.Length;
        double rms = Math.Sqrt(activations.Sum(a => (double)a * a) / size);
        var vectors = Enumerable.Range(0, directions).Select(_ => Gaussian(random, size)).ToArray();
        double gradientNorm = Math.Sqrt(gradients.Sum(g => (double)g * g));
        if (gradientNorm > 0) // the first direction: the gradient itself, with a random direction's norm, sqrt(n)
            vectors[0] = gradients.Select(g => (float)(g / gradientNorm * Math.Sqrt(size))).ToArray();
        int rows = directions * StepFractions.Length * offsets.Length;
        var inputs = new float[rows * input.Length];
        var delta = new float[rows * size];
        var steps = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            input.CopyTo(inputs, r * input.Length);
            var v = vectors[r / (StepFractions.Length * offsets.Length)];
            steps[r] = StepFractions[r / offsets.Length % StepFractions.Length] * Math.Max(rms, 1e-2) * offsets[r % offsets.Length];
            var jitter = jitters[layer.Tensor].Values;
            for (int i = 0; i < size; i++) delta[r * size + i] = (float)(jitter[i] + steps[r] * v[i]);
        }
        var scores = ScoresWithDelta(forward, layer, all, inputs, [rows, .. inputShape[1..]], delta, [rows, .. shape[1..]], jitters);
        int per = scores.Length / rows;
        double Objective(int row)
        {
            double sum = 0;
            for (int i = 0; i < per; i++) sum += (double)scores[row * per + i] * target[i];
            return sum;
        }
        double worst = 0, worstRandom = 0;
        for (int d = 0; d < directions; d++)
        {
            double analytic = 0;
            for (int i = 0; i < size; i++) analytic += (double)gradients[i] * vectors[d][i];
            double floor = 1e-3 * gradientNorm * Math.Sqrt(size);
            if (floor == 0 && analytic == 0) continue; // the layer does not move the scores, and the gradient says so
            double best = double.MaxValue;
            for (int f = 0; f < StepFractions.Length; f++)
            {
                int row = (d * StepFractions.Length + f) * offsets.Length;
                double plain = (Objective(row) - Objective(row + 1)) / (2 * steps[row]);
                double half = (Objective(row + 2) - Objective(row + 3)) / (2 * steps[row + 2]);
                foreach (double finite in new[] { plain, (4 * half - plain) / 3 })
                    best = Math.Min(best, Math.Abs(finite - analytic) / Math.Max(Math.Max(Math.Abs(finite), Math.Abs(analytic)), floor));
            }
            if (d == 0) worst = best;
            else worstRandom = Math.Max(worstRandom, best);
        }
        if (worst > SelfCheckTolerance)
            return $"its gradient disagrees with finite differences of the model along the gradient (relative error {worst:G3} > {SelfCheckTolerance:G3}), so its maps would be wrong";
        return worstRandom <= RandomDirectionTolerance ? null
            : $"its gradient disagrees with finite differences of the model along random directions (relative error {worstRandom:G3} > {RandomDirectionTolerance:G3}), so its maps would be wrong";
    }

    /// <summary>
    /// Runs a perturbed forward graph: the score output for a batch whose activations at <paramref name="layer"/> are
    /// moved by <paramref name="delta"/>, the graph's other layers (<paramref name="all"/>) left alone.
    /// </summary>
    private float[] ScoresWithDelta(InferenceSession session, CamLayer layer, IReadOnlyList<CamLayer> all, float[] inputs, long[] inputShape,
        float[] delta, long[] deltaShape, IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? others = null)
    {
        var names = new List<string> { _prepared.InputName };
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(inputs, inputShape) };
        try
        {
            foreach (var other in all)
            {
                names.Add(ExplanationGraph.PerturbationInput(other.Tensor));
                values.Add(other == layer ? OrtValue.CreateTensorValueFromMemory(delta, deltaShape)
                    : others is not null && others.TryGetValue(other.Tensor, out var fixedDelta) ? OrtValue.CreateTensorValueFromMemory(fixedDelta.Values, fixedDelta.Shape)
                    : OrtValue.CreateTensorValueFromMemory(new float[1], [1, 1, 1, 1]));
            }
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, names, values, [ScoreOutput]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>
    /// The RFF layers' outputs and every other 4-D float map (produced by a feature operator, at least 2x2 at the nominal
    /// size) that lies on the way from the input to the scores; the inner tensors of an RFF layer are not listed.
    /// </summary>
    private static List<CamLayer> Candidates(PreparedModel prepared, string scoreOutput, IReadOnlyDictionary<string, string> rffOutputs)
    {
        var index = prepared.Index;
        var upstream = index.Upstream([scoreOutput]);
        var downstream = index.Downstream([prepared.InputName]);
        var rffByTensor = rffOutputs.ToDictionary(kv => kv.Value, kv => kv.Key);
        var inner = new HashSet<string>();
        foreach (var tensor in rffByTensor.Keys)
            for (var node = index.Producer(tensor); node is not null && node.OpType is "Mul" or "Cos" or "Add" or "Div" or "Sub";)
            {
                var previous = node.Input.FirstOrDefault(i => downstream.Contains(i) && !index.Initializers.ContainsKey(i));
                if (previous is null) break;
                inner.Add(previous);
                node = index.Producer(previous);
                if (node?.OpType == "Conv") { inner.Add(node.Output[0]); break; }
            }
        var layers = new List<CamLayer>();
        foreach (var node in index.Graph.Node)
        {
            string tensor = node.Output[0];
            if (tensor.Length == 0 || inner.Contains(tensor) || !upstream.Contains(tensor) || !downstream.Contains(tensor) || tensor == scoreOutput) continue;
            bool rff = rffByTensor.ContainsKey(tensor);
            if (!rff && !FeatureOps.Contains(node.OpType)) continue;
            if (!prepared.IsFloat(tensor) || !prepared.Shapes.TryGetValue(tensor, out var shape) || shape.Length != 4 || shape[2] < 2 || shape[3] < 2) continue;
            string name = rff ? rffByTensor[tensor] : string.IsNullOrEmpty(node.Name) ? tensor : node.Name;
            layers.Add(new CamLayer(name, tensor, rff ? "rff" : node.OpType, shape[1], shape[2], shape[3], IsAffineAfter(prepared, tensor, scoreOutput), null));
        }
        return layers;
    }

    /// <summary>True when every node between the tensor and the scores is affine in it (the other operands constant).</summary>
    private static bool IsAffineAfter(PreparedModel prepared, string tensor, string scoreOutput)
    {
        var index = prepared.Index;
        var downstream = index.Downstream([tensor]);
        var upstream = index.Upstream([scoreOutput]);
        foreach (var node in index.Graph.Node)
        {
            if (!node.Output.Any(o => downstream.Contains(o) && upstream.Contains(o)) || node.Output.Contains(tensor)) continue;
            if (!AffineOps.Contains(node.OpType)) return false;
            if (node.OpType is "Mul" or "Div" or "Gemm" or "MatMul" && node.Input.Count(i => downstream.Contains(i)) > 1) return false;
            if (node.OpType is "Div" && downstream.Contains(node.Input[1])) return false;
            if (node.OpType is "Pad" && (node.Attribute.FirstOrDefault(a => a.Name == "mode")?.S.ToStringUtf8() ?? "constant") != "constant") return false;
        }
        return true;
    }

    private static long Length(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    private static float[] Gaussian(Random random, long length)
    {
        var values = new float[length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return values;
    }

    public void Dispose()
    {
        foreach (var graph in _graphs.Values.Where(g => g.IsValueCreated)) graph.Value.Dispose();
    }
}
