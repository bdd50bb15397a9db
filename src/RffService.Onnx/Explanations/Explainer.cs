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

/// <summary>How the layer explained when a request names none is chosen.</summary>
public enum DefaultLayerRule
{
    /// <summary>The last usable RFF layer, else the last usable feature map (classifiers).</summary>
    LastRffLayer,
    /// <summary>
    /// The largest usable map a score head reads (detectors): the input of a node whose output reaches the scores
    /// through affine operations only (an SSD class head's convolution), the finest such map, first in graph order on
    /// a tie; the last-RFF-layer rule when the graph has none. It sits where the detection's own default box is scored,
    /// at the resolution the detector places boxes at.
    /// </summary>
    HeadInput,
}

/// <summary>
/// What explanations of a model can use before the gradient check: the prepared graph and the candidate layers
/// (<see cref="CamLayerDiscovery"/>), those on a path without a gradient rule already refused with the reason.
/// </summary>
public sealed record ExplanationCandidates(PreparedModel Prepared, string ScoreOutput, IReadOnlyList<CamLayer> Layers,
    DefaultLayerRule DefaultLayerRule = DefaultLayerRule.LastRffLayer);

/// <summary>
/// Explanations of one model version, computed by ONNX Runtime: runs the explanation graphs of the layers that passed
/// the <see cref="GradientSelfCheck"/>. The graphs for the layer sets requests ask for are built on first use and kept in
/// a <see cref="GraphSessionCache"/> (bounded, shared by the process), keyed by the set of layers whatever their order.
/// </summary>
public sealed class Explainer : IDisposable
{
    private readonly PreparedModel _prepared;
    private readonly SessionFactory _sessions;
    private readonly GraphSessionCache _cache;
    private readonly bool _ownsCache;
    /// <summary>The explainer whose graphs this one derives (itself, or the un-intervened explainer of an <see cref="Intervened"/> view).</summary>
    private readonly Explainer _owner;
    private readonly IReadOnlyList<LayerIntervention> _interventions = [];
    private readonly Lazy<PreparedModel> _graphBase;

    private Explainer(ExplanationCandidates candidates, IReadOnlyList<CamLayer> layers, SessionFactory sessions, GraphSessionCache? cache)
    {
        _prepared = candidates.Prepared;
        ScoreOutput = candidates.ScoreOutput;
        Layers = layers;
        DefaultLayer = ChooseDefault(candidates.Prepared, layers, candidates.DefaultLayerRule);
        _sessions = sessions;
        _ownsCache = cache is null;
        _cache = cache ?? new GraphSessionCache(DefaultCacheBudgetBytes);
        _owner = this;
        _graphBase = new Lazy<PreparedModel>(_prepared);
    }

    private Explainer(Explainer owner, IReadOnlyList<LayerIntervention> interventions)
    {
        _prepared = owner._prepared;
        ScoreOutput = owner.ScoreOutput;
        Layers = owner.Layers;
        DefaultLayer = owner.DefaultLayer;
        _sessions = owner._sessions;
        _cache = owner._cache;
        _owner = owner;
        _interventions = owner.Canonical(interventions.Select(i => i.Layer).ToList())
            .Select(l => interventions.Single(i => i.Layer.Tensor == l.Tensor)).ToList();
        var switched = _interventions.Select(i => i.Layer.Tensor).ToList();
        _graphBase = new Lazy<PreparedModel>(() => InterventionGraph.InPlace(_prepared, switched));
    }

    /// <summary>The budget of an explainer's own cache when none is shared.</summary>
    public const long DefaultCacheBudgetBytes = 256L << 20;

    /// <summary>Every candidate layer, in graph order, usable or not (with the reason).</summary>
    public IReadOnlyList<CamLayer> Layers { get; }
    /// <summary>The layer explained when a request names none (<see cref="DefaultLayerRule"/>).</summary>
    public CamLayer? DefaultLayer { get; }
    /// <summary>The output explanations score (a classifier's logits, a detector's class scores).</summary>
    public string ScoreOutput { get; }
    public long[] ScoreShape => _prepared.Shapes[ScoreOutput][1..];

    /// <summary>Prepares the graph and finds the candidate layers; throws <see cref="NotSupportedException"/> when no explanation can be offered at all.</summary>
    /// <param name="inputShape">The input at its nominal size, batch first.</param>
    /// <param name="rffOutputs">The RFF layers' output tensors, by layer name.</param>
    /// <param name="defaultLayerRule">How the default layer is chosen among those that pass the check.</param>
    public static ExplanationCandidates Discover(ModelProto model, string inputName, long[] inputShape, string scoreOutput,
        IReadOnlyDictionary<string, string> rffOutputs, SessionFactory sessions, DefaultLayerRule defaultLayerRule = DefaultLayerRule.LastRffLayer)
    {
        var prepared = PreparedModel.Prepare(model, inputName, inputShape, sessions);
        if (prepared.Index.Producer(scoreOutput) is { OpType: "If" or "Loop" or "Scan" } control)
            throw new NotSupportedException($"the score output '{scoreOutput}' is computed inside the {control.OpType} node '{control.Name}', which explanations cannot go back through");
        if (!prepared.IsFloat(scoreOutput)) throw new NotSupportedException($"the score output '{scoreOutput}' is not a float tensor");
        var found = CamLayerDiscovery.Find(prepared, scoreOutput, rffOutputs);
        if (found.Count == 0) throw new NotSupportedException("the model has no 4-D feature map on the way to its scores");
        var layers = new List<CamLayer>();
        foreach (var layer in found)
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
        return new ExplanationCandidates(prepared, scoreOutput, layers, defaultLayerRule);
    }

    private static CamLayer? ChooseDefault(PreparedModel prepared, IReadOnlyList<CamLayer> layers, DefaultLayerRule rule)
    {
        var usable = layers.Where(l => l.Usable).ToList();
        var lastRff = usable.LastOrDefault(l => l.Kind == "rff") ?? usable.LastOrDefault();
        if (rule != DefaultLayerRule.HeadInput) return lastRff;
        var byTensor = usable.ToDictionary(l => l.Tensor);
        var headInputs = layers.Where(l => l.LinearAfter)
            .SelectMany(head => prepared.Index.Producer(head.Tensor)?.Input ?? [])
            .Where(byTensor.ContainsKey).Select(t => byTensor[t]).Distinct().ToList();
        return headInputs.OrderByDescending(l => l.Height * l.Width).ThenBy(l => usable.IndexOf(l)).FirstOrDefault() ?? lastRff;
    }

    /// <summary>Checks the candidates' gradients (<see cref="GradientSelfCheck"/>) and returns the explainer of those that pass.</summary>
    public static Explainer Check(ExplanationCandidates candidates, SessionFactory sessions, GraphSessionCache? cache = null, int seed = 1,
        CancellationToken cancellationToken = default) =>
        Check(candidates, sessions, cache, seed, editCheckedGraph: null, cancellationToken);

    /// <param name="editCheckedGraph">Tests only: edits the gradient graph the self-check runs, to show that it catches a wrong gradient.</param>
    internal static Explainer Check(ExplanationCandidates candidates, SessionFactory sessions, GraphSessionCache? cache, int seed,
        Action<ModelProto>? editCheckedGraph, CancellationToken cancellationToken)
    {
        var check = new GradientSelfCheck(candidates.Prepared, candidates.ScoreOutput, sessions);
        var layers = check.Check(candidates.Layers.ToList(), seed, editCheckedGraph, cancellationToken);
        return new Explainer(candidates, layers, sessions, cache);
    }

    /// <summary>Discovers and checks in one go (tests and tools).</summary>
    public static Explainer Create(ModelProto model, string inputName, long[] inputShape, string scoreOutput,
        IReadOnlyDictionary<string, string> rffOutputs, SessionFactory sessions, int seed = 1) =>
        Check(Discover(model, inputName, inputShape, scoreOutput, rffOutputs, sessions), sessions, seed: seed);

    /// <param name="editCheckedGraph">Tests only: edits the gradient graph the self-check runs.</param>
    internal static Explainer Create(ModelProto model, string inputName, long[] inputShape, string scoreOutput,
        IReadOnlyDictionary<string, string> rffOutputs, SessionFactory sessions, int seed, Action<ModelProto>? editCheckedGraph) =>
        Check(Discover(model, inputName, inputShape, scoreOutput, rffOutputs, sessions), sessions, null, seed, editCheckedGraph, default);

    /// <summary>
    /// One run of the explanation graph for <paramref name="layers"/>: input [N, C, H, W], target weights shaped like the
    /// scores, and optional perturbations of the layers' activations (zeros when absent).
    /// </summary>
    public ExplanationRun Run(float[] input, long[] inputShape, float[] target, long[] targetShape, IReadOnlyList<CamLayer> layers,
        IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? deltas = null)
    {
        var set = Canonical(layers);
        using var lease = Lease("gradient", set, () => ExplanationGraph.Build(_graphBase.Value, Tensors(set), ScoreOutput));
        return ExplanationRunner.Gradients(lease.Session.Session, _prepared.InputName, ScoreOutput, input, inputShape, (target, targetShape), layers, set, deltas,
            FixedInputs());
    }

    /// <summary>One run that explains each input's top score (along the score output's last axis, the first on ties): a classifier's top class.</summary>
    public ExplanationRun RunForTopScore(float[] input, long[] inputShape, IReadOnlyList<CamLayer> layers)
    {
        var set = Canonical(layers);
        using var lease = Lease("gradient of the top score", set, () => ExplanationGraph.Build(_graphBase.Value, Tensors(set), ScoreOutput, topScoreTarget: true));
        return ExplanationRunner.Gradients(lease.Session.Session, _prepared.InputName, ScoreOutput, input, inputShape, null, layers, set, null, FixedInputs());
    }

    /// <summary>The score output for a batch of inputs whose activations at <paramref name="layer"/> are moved by <paramref name="deltas"/> (a forward run only).</summary>
    public float[] Scores(float[] inputs, long[] inputShape, CamLayer layer, float[] deltas, long[] deltaShape)
    {
        using var lease = Lease("perturbed", [layer], () => ExplanationGraph.BuildForward(_graphBase.Value, [layer.Tensor], ScoreOutput));
        return ExplanationRunner.Scores(lease.Session.Session, _prepared.InputName, ScoreOutput, inputs, inputShape, [layer],
            new Dictionary<string, (float[], long[])> { [layer.Tensor] = (deltas, deltaShape) }, FixedInputs());
    }

    /// <summary>
    /// This explainer for the network with <paramref name="interventions"/> applied (one per layer): every run of the view
    /// (gradients, scores, activations) is of the intervened network. Its graphs are cached beside this explainer's.
    /// </summary>
    public Explainer Intervened(IReadOnlyList<LayerIntervention> interventions)
    {
        if (_owner != this) throw new InvalidOperationException("Interventions apply to the model's own explainer.");
        if (interventions.Select(i => i.Layer.Tensor).Distinct().Count() != interventions.Count)
            throw new ArgumentException("One intervention per layer: merge the masks of several first.", nameof(interventions));
        return new Explainer(this, interventions);
    }

    /// <summary>Whether this is an <see cref="Intervened"/> view.</summary>
    public bool IsIntervened => _interventions.Count > 0;

    /// <summary>
    /// One run of the model as it is and with the view's interventions: the float outputs of each, by the model's
    /// output names. The part of the network upstream of the switched layers runs once.
    /// </summary>
    public (Dictionary<string, (float[] Values, long[] Shape)> Original, Dictionary<string, (float[] Values, long[] Shape)> Intervened) Compare(
        float[] input, long[] inputShape)
    {
        if (!IsIntervened) throw new InvalidOperationException("Compare needs an intervened view.");
        var outputs = _prepared.Model.Graph.Output.Select(o => o.Name).Where(_prepared.IsFloat).ToList();
        using var lease = _cache.Rent(_owner, "side by side\n" + SwitchedKey(),
            () => InterventionGraph.SideBySide(_prepared, _interventions.Select(i => i.Layer.Tensor).ToList()), _sessions);
        var all = ExplanationRunner.Outputs(lease.Session.Session, _prepared.InputName, input, inputShape, FixedInputs(),
            [.. outputs, .. outputs.Select(InterventionGraph.IntervenedOutput)]);
        return (outputs.ToDictionary(o => o, o => all[o]), outputs.ToDictionary(o => o, o => all[InterventionGraph.IntervenedOutput(o)]));
    }

    /// <summary>The score output for a batch of inputs (a forward run; of the intervened network for a view).</summary>
    public float[] Scores(float[] inputs, long[] inputShape)
    {
        using var lease = Lease("scores", [], () =>
        {
            var model = _graphBase.Value.Model.Clone();
            model.Graph.Output.Clear();
            model.Graph.Output.Add(_prepared.Model.Graph.Output.FirstOrDefault(o => o.Name == ScoreOutput)?.Clone()
                ?? new ValueInfoProto { Name = ScoreOutput, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
            return model;
        });
        return ExplanationRunner.Outputs(lease.Session.Session, _prepared.InputName, inputs, inputShape, FixedInputs(), [ScoreOutput])[ScoreOutput].Values;
    }

    /// <summary>The activations of <paramref name="layers"/> for a batch of inputs (a forward run only, no gradient).</summary>
    public IReadOnlyList<float[]> Activations(float[] inputs, long[] inputShape, IReadOnlyList<CamLayer> layers)
    {
        var set = Canonical(layers);
        using var lease = Lease("activations", set, () => ActivationsGraph(set));
        var outputs = ExplanationRunner.Outputs(lease.Session.Session, _prepared.InputName, inputs, inputShape, FixedInputs(), layers.Select(l => l.Tensor).ToList());
        return layers.Select(l => outputs[l.Tensor].Values).ToList();
    }

    private ModelProto ActivationsGraph(IReadOnlyList<CamLayer> layers)
    {
        var model = _graphBase.Value.Model.Clone();
        model.Graph.Output.Clear();
        foreach (var layer in layers)
            model.Graph.Output.Add(new ValueInfoProto
            {
                Name = layer.Tensor,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        return model;
    }

    /// <summary>The layers as a set in graph order: one graph serves every order of the same layers.</summary>
    private List<CamLayer> Canonical(IReadOnlyList<CamLayer> layers) => Layers.Where(l => layers.Any(r => r.Tensor == l.Tensor)).ToList();

    private static List<string> Tensors(IReadOnlyList<CamLayer> layers) => layers.Select(l => l.Tensor).ToList();

    /// <summary>A graph of this explainer (of the intervened network for a view: its switched layers are part of the key).</summary>
    private GraphSessionCache.Lease Lease(string kind, IReadOnlyList<CamLayer> set, Func<ModelProto> build) =>
        _cache.Rent(_owner, kind + "\n" + string.Join("\n", set.Select(l => l.Tensor)) + (IsIntervened ? "\nswitched\n" + SwitchedKey() : ""), build, _sessions);

    private string SwitchedKey() => string.Join("\n", _interventions.Select(i => i.Layer.Tensor));

    /// <summary>The masks and values of the view's interventions, the inputs its graphs add.</summary>
    private List<(string Name, (float[] Values, long[] Shape) Value)> FixedInputs() =>
        _interventions.SelectMany(i => new[]
        {
            (InterventionGraph.MaskInput(i.Layer.Tensor), (i.Mask, i.Shape)),
            (InterventionGraph.ValueInput(i.Layer.Tensor), (i.Values, i.Shape)),
        }).ToList();

    public void Dispose()
    {
        if (_owner != this) return;
        if (_ownsCache) _cache.Dispose();
        else _cache.Remove(this);
    }
}
