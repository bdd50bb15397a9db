using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>A Cos after a Conv that is not read as an RFF layer, and why.</summary>
public sealed record UnrecognisedRffChain(string Node, string Reason);

/// <summary>Reads what a model contains: its RFF layers (custom op or standard-op chains) and initializers.</summary>
public sealed class ModelInspector
{
    private readonly ModelProto _model;
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly ILookup<string, NodeProto> _consumers;
    private readonly Dictionary<string, NodeProto> _producers;

    public ModelInspector(ModelProto model)
    {
        _model = model;
        var graph = model.Graph ?? throw new InvalidDataException("The model has no graph.");
        _initializers = graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First());
        _consumers = graph.Node.SelectMany(n => n.Input.Select(i => (i, n))).ToLookup(p => p.i, p => p.n);
        _producers = new Dictionary<string, NodeProto>();
        foreach (var node in graph.Node)
            foreach (var output in node.Output)
                _producers[output] = node;
    }

    public ModelProto Model => _model;

    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>Constant-valued inputs: initializers or outputs of Constant nodes.</summary>
    public float? ScalarConstant(string name)
    {
        TensorProto? tensor = Initializer(name);
        if (tensor is null && _producers.TryGetValue(name, out var producer) && producer.OpType == "Constant")
        {
            var value = producer.Attribute.FirstOrDefault();
            if (value?.Name == "value_float") return value.F;
            tensor = value?.T;
        }
        if (tensor is null || tensor.DataType != (int)TensorProto.Types.DataType.Float) return null;
        var values = Tensors.ToFloats(tensor);
        return values.Length == 1 ? values[0] : null;
    }

    /// <summary>RFF layers in graph order.</summary>
    public IReadOnlyList<RffLayerInfo> FindRffLayers()
    {
        var layers = new List<RffLayerInfo>();
        foreach (var node in _model.Graph.Node)
        {
            if (RffConvOperator.IsRffConv(node))
                layers.Add(FromCustomOp(node));
            else if (node.OpType == "Conv" && node.Domain is "" or "ai.onnx" && TryMatchChain(node) is { } chain)
                layers.Add(chain);
        }
        return layers;
    }

    private RffLayerInfo FromCustomOp(NodeProto node)
    {
        var attributes = RffConvAttributes.FromNode(node);
        var (m, c, kh, kw) = WeightShape(node.Input[1]);
        return new RffLayerInfo(LayerName(node), node.Output[0], node.Input[0], m, c, kh, kw, attributes,
            Initializer(node.Input[1]) is null ? null : node.Input[1],
            node.Input.Count > 2 && Initializer(node.Input[2]) is not null ? node.Input[2] : null,
            RffLayerForm.CustomOp);
    }

    /// <summary>
    /// Every Cos fed (through Div, Mul, Add) by a Conv that is not recognised as an RFF layer, with the reason: such a
    /// model still serves, but the layer is not listed as one (its maps are still offered as plain feature maps).
    /// </summary>
    public IReadOnlyList<UnrecognisedRffChain> UnrecognisedRffChains()
    {
        var recognised = FindRffLayers().Select(l => l.Output).ToHashSet();
        var result = new List<UnrecognisedRffChain>();
        foreach (var cos in _model.Graph.Node.Where(n => n.OpType == "Cos"))
        {
            var conv = _producers.GetValueOrDefault(cos.Input[0]);
            for (int hops = 0; conv is { OpType: "Div" or "Mul" or "Add" } && hops < 3; hops++)
                conv = conv.Input.Select(i => _producers.GetValueOrDefault(i)).FirstOrDefault(p => p is not null && p.OpType is "Conv" or "Div" or "Mul" or "Add");
            if (conv is not { OpType: "Conv" }) continue;
            var (layer, reason) = MatchChain(conv);
            if (layer is null || !recognised.Contains(layer.Output))
                result.Add(new UnrecognisedRffChain(LayerName(cos), reason ?? "it does not follow Conv -> Div or Mul by a constant -> Add a constant bias -> Cos -> Mul by a constant"));
        }
        // RFF layers are read from the main graph: a Cos inside an If branch or a loop body is named, with why.
        foreach (var node in _model.Graph.Node)
            foreach (var cos in Subgraphs.Of(node).SelectMany(InnerNodes).Where(n => n.OpType is "Cos" or "RffConv"))
                result.Add(new UnrecognisedRffChain(LayerName(cos),
                    $"it lies inside the subgraph of the {node.OpType} node '{LayerName(node)}': RFF layers (and explanations) are read from the main graph only; " +
                    "export without data-dependent control flow (or with a constant condition folded away)"));
        return result;
    }

    private static IEnumerable<NodeProto> InnerNodes(GraphProto graph) => graph.Node.SelectMany(n => Subgraphs.Of(n).SelectMany(InnerNodes).Prepend(n));

    private RffLayerInfo? TryMatchChain(NodeProto conv) => MatchChain(conv).Layer;

    /// <summary>Matches Conv -> (Div c | Mul c)? -> (Add B)? -> Cos -> (Mul s)? where every branch has one consumer; else says why not.</summary>
    private (RffLayerInfo? Layer, string? Reason) MatchChain(NodeProto conv)
    {
        float sigma = 1f, scale = 1f;
        string? biasName = conv.Input.Count > 2 ? conv.Input[2] : null;
        var current = SingleConsumer(conv.Output[0]);
        if (current is null) return (null, $"the output of Conv '{LayerName(conv)}' has several consumers");
        if (current is { OpType: "Div" } div)
        {
            if (ScalarConstant(div.Input[1]) is not { } divisor) return (null, $"the divisor of '{LayerName(div)}' is not a constant scalar (sigma)");
            sigma = divisor;
            current = SingleConsumer(div.Output[0]);
        }
        else if (current is { OpType: "Mul" } mul && OtherScalar(mul, conv.Output[0]) is { } factor && factor != 0)
        {
            sigma = 1f / factor;
            current = SingleConsumer(mul.Output[0]);
        }
        if (current is { OpType: "Add" } add)
        {
            if (!add.Input.Any(i => Initializer(i) is not null)) return (null, $"the bias of '{LayerName(add)}' is not a constant");
            biasName ??= add.Input.FirstOrDefault(i => Initializer(i) is not null);
            current = SingleConsumer(add.Output[0]);
        }
        if (current is not { OpType: "Cos" } cos) return (null, null);
        string output = cos.Output[0];
        if (SingleConsumer(output) is { OpType: "Mul" } scaleMul && OtherScalar(scaleMul, output) is { } s)
        {
            scale = s;
            output = scaleMul.Output[0];
        }

        var attributes = RffConvAttributes.FromConvStyle(sigma, scale,
            Attributes.GetInts(conv, "strides") ?? [1, 1],
            Attributes.GetInts(conv, "pads") ?? [0, 0, 0, 0],
            Attributes.GetInts(conv, "dilations") ?? [1, 1]);
        var (m, c, kh, kw) = WeightShape(conv.Input[1]);
        return (new RffLayerInfo(LayerName(conv), output, conv.Input[0], m, c, kh, kw, attributes,
            Initializer(conv.Input[1]) is null ? null : conv.Input[1], biasName, RffLayerForm.StandardOpChain), null);
    }

    private float? OtherScalar(NodeProto binary, string knownInput)
    {
        var other = binary.Input.FirstOrDefault(i => i != knownInput);
        return other is null ? null : ScalarConstant(other);
    }

    private NodeProto? SingleConsumer(string tensor)
    {
        var consumers = _consumers[tensor].ToList();
        bool isGraphOutput = _model.Graph.Output.Any(o => o.Name == tensor);
        return consumers.Count == 1 && !isGraphOutput ? consumers[0] : null;
    }

    private (int M, int C, int KH, int KW) WeightShape(string weightName)
    {
        var dims = Initializer(weightName)?.Dims;
        return dims is { Count: 4 } ? ((int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]) : (0, 0, 0, 0);
    }

    private static string LayerName(NodeProto node) => string.IsNullOrEmpty(node.Name) ? node.Output[0] : node.Name;
}
