using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>
/// Builds, from a prepared model, the graph explanations run. For each chosen layer L its output is perturbed,
/// <c>L' = L + D_L</c> (D_L an input: zeros of shape [1, 1, 1, 1] normally, a direction for finite differences, minus
/// a channel for ablation), and the graph returns the score output Y, each <c>L'</c> and the vector-Jacobian product
/// <c>G_L = d(sum(T * Y)) / dL'</c>, where T (an input shaped like Y) weights the outputs: a one-hot row picks a class,
/// a detection's prior and class pick one score. One backward pass serves every chosen layer and every target.
/// </summary>
public static class ExplanationGraph
{
    public const string TargetInput = "explain/target";

    public static string PerturbationInput(string layer) => $"explain/delta/{layer}";
    public static string ActivationOutput(string layer) => $"explain/activation/{layer}";
    public static string GradientOutput(string layer) => $"explain/gradient/{layer}";

    /// <summary>
    /// The model with the layers perturbed and the score output only: no backward pass. Finite differences and
    /// Ablation-CAM, which only re-score perturbed activations, run this graph (its inputs are the same but the target).
    /// </summary>
    public static ModelProto BuildForward(PreparedModel prepared, IReadOnlyList<string> layers, string scoreOutput)
    {
        var (model, _) = Perturbed(prepared, layers);
        model.Graph.Output.Clear();
        model.Graph.Output.Add(FloatValue(scoreOutput, prepared.Shapes[scoreOutput].Length));
        return model;
    }

    /// <param name="topScoreTarget">
    /// No target input: T is the one-hot of each row's top score (along the score output's last axis, the first on ties),
    /// chosen inside the graph, so a classification and the explanation of its top class take one run.
    /// </param>
    /// <exception cref="NotSupportedException">An operator between a layer and the output has no gradient rule: the message names it.</exception>
    public static ModelProto Build(PreparedModel prepared, IReadOnlyList<string> layers, string scoreOutput, bool topScoreTarget = false)
    {
        var (model, perturbed) = Perturbed(prepared, layers);
        var graph = model.Graph;
        var emitter = new GraphEmitter(graph, "explain/");
        var shapes = new Dictionary<string, long[]>(prepared.Shapes);
        foreach (var (layer, name) in perturbed) shapes[name] = prepared.Shapes[layer];
        var types = new Dictionary<string, int>(prepared.Types);
        foreach (var name in perturbed.Values) types[name] = (int)TensorProto.Types.DataType.Float;
        var view = new PreparedView(prepared, shapes, types);

        // Which tensors need a gradient: float, downstream of a perturbed layer, upstream of the score.
        var index = new GraphIndex(graph);
        var downstream = index.Downstream(perturbed.Values);
        var upstream = index.Upstream([scoreOutput]);
        bool Needs(string tensor) => downstream.Contains(tensor) && upstream.Contains(tensor) && view.IsFloat(tensor);

        var forward = graph.Node.ToList();
        string target = topScoreTarget ? TopScoreOneHot(emitter, scoreOutput) : TargetInput;
        if (!topScoreTarget) graph.Input.Add(FloatValue(TargetInput, shapes[scoreOutput].Length));
        var contributions = new Dictionary<string, List<string>> { [scoreOutput] = [target] };
        var rules = new GradientRules(view.Model, emitter);
        for (int n = forward.Count - 1; n >= 0; n--)
        {
            var node = forward[n];
            if (!node.Output.Any(contributions.ContainsKey)) continue;
            var outputGrads = node.Output.Select(o => contributions.TryGetValue(o, out var list) ? Sum(emitter, list) : null).ToArray();
            foreach (var (input, grad) in rules.Backward(node, outputGrads, Needs))
            {
                string tensor = node.Input[input];
                (contributions.TryGetValue(tensor, out var list) ? list : contributions[tensor] = []).Add(grad);
            }
        }

        graph.Output.Clear();
        graph.Output.Add(FloatValue(scoreOutput, shapes[scoreOutput].Length));
        foreach (var (layer, name) in perturbed)
        {
            string gradient = contributions.TryGetValue(name, out var list) ? Sum(emitter, list) : emitter.ZerosLike(name);
            graph.Node.Add(Identity(name, ActivationOutput(layer)));
            graph.Node.Add(Identity(gradient, GradientOutput(layer)));
            graph.Output.Add(FloatValue(ActivationOutput(layer), 4));
            graph.Output.Add(FloatValue(GradientOutput(layer), 4));
        }
        return model;
    }

    /// <summary>A copy of the model in which every consumer of each layer L reads <c>L' = L + D_L</c>, D_L a new input.</summary>
    private static (ModelProto Model, Dictionary<string, string> Perturbed) Perturbed(PreparedModel prepared, IReadOnlyList<string> layers)
    {
        var model = prepared.Model.Clone();
        if (prepared.Opset < 17)
        {
            // ScatterElements(reduction="add") needs opset 16; every operator the models use means the same from 13 to 17.
            var import = model.OpsetImport.First(o => o.Domain is "" or "ai.onnx");
            import.Version = 17;
        }
        var graph = model.Graph;
        var perturbed = new Dictionary<string, string>();
        foreach (var layer in layers)
        {
            string name = $"explain/perturbed/{layer}";
            foreach (var node in graph.Node)
                for (int i = 0; i < node.Input.Count; i++)
                    if (node.Input[i] == layer) node.Input[i] = name;
            var add = new NodeProto { OpType = "Add", Name = $"explain/perturb/{layer}" };
            add.Input.AddRange([layer, PerturbationInput(layer)]);
            add.Output.Add(name);
            int producer = graph.Node.ToList().FindIndex(n => n.Output.Contains(layer));
            graph.Node.Insert(producer + 1, add);
            graph.Input.Add(FloatValue(PerturbationInput(layer), 4));
            perturbed[layer] = name;
        }
        return (model, perturbed);
    }

    /// <summary>One-hot rows marking each row's top score: OneHot(ArgMax(Y)), shaped like Y.</summary>
    private static string TopScoreOneHot(GraphEmitter emitter, string scores)
    {
        var top = emitter.Op("ArgMax", [scores], Attributes.Int("axis", -1), Attributes.Int("keepdims", 1), Attributes.Int("select_last_index", 0));
        var depth = emitter.Op("Slice", [emitter.Shape(scores), emitter.Int64s(-1), emitter.Int64s(long.MaxValue)]);
        var oneHot = emitter.Op("OneHot", [top, depth, emitter.Floats([2], [0f, 1f])], Attributes.Int("axis", -1));
        return emitter.Reshape(oneHot, emitter.Shape(scores));
    }

    private static string Sum(GraphEmitter emitter, List<string> terms) => terms.Count == 1 ? terms[0] : emitter.Op("Sum", terms);

    private static NodeProto Identity(string from, string to)
    {
        var node = new NodeProto { OpType = "Identity", Name = "explain/out/" + to };
        node.Input.Add(from);
        node.Output.Add(to);
        return node;
    }

    private static ValueInfoProto FloatValue(string name, int rank)
    {
        var shape = new TensorShapeProto();
        for (int i = 0; i < rank; i++) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = $"{name}_d{i}" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>The prepared model seen with the perturbed tensors' shapes and types added.</summary>
    private sealed class PreparedView(PreparedModel model, Dictionary<string, long[]> shapes, Dictionary<string, int> types)
    {
        public PreparedModel Model { get; } = model.WithShapes(shapes, types);
        public bool IsFloat(string tensor) => types.TryGetValue(tensor, out int type) && ElementTypes.IsFloat(type);
    }
}
