using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>Edits models in place.</summary>
public static class ModelEditor
{
    /// <summary>
    /// Makes intermediate tensors graph outputs (float, shape left to ONNX Runtime's inference),
    /// so one run returns the activations of the named layers along with the model's own outputs.
    /// </summary>
    public static void ExposeOutputs(ModelProto model, IEnumerable<string> tensorNames)
    {
        var graph = model.Graph;
        var produced = graph.Node.SelectMany(n => n.Output).ToHashSet();
        foreach (var name in tensorNames)
        {
            if (!produced.Contains(name))
                throw new ArgumentException($"No node in the graph produces a tensor named '{name}'.");
            if (graph.Output.Any(o => o.Name == name)) continue;
            graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }
    }

    /// <summary>The prefix of the nodes and tensors <see cref="WithFloatNchwInput"/> adds.</summary>
    public const string AdaptedPrefix = "adapted/";

    /// <summary>
    /// The model behind a float32 NCHW input of the same name, converted inside the graph to what the model takes:
    /// transposed to NHWC for a channels-last input; rounded, clamped to 0-255 and cast for a uint8 input (as the
    /// service converts pixels); cast for a float16 one. Explanation graphs built on it take the tensors the service's
    /// image pipeline makes, whatever the model's own input form. A float32 NCHW model is returned as it is.
    /// </summary>
    public static ModelProto WithFloatNchwInput(ModelProto model, string inputName, bool channelsLast)
    {
        const string prefix = AdaptedPrefix;
        var input = model.Graph.Input.Single(i => i.Name == inputName);
        var type = (TensorProto.Types.DataType)input.Type.TensorType.ElemType;
        if (!channelsLast && type == TensorProto.Types.DataType.Float) return model;
        if (type is not (TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Uint8))
            throw new ArgumentException($"The input '{inputName}' is {type}; only float32, float16 and uint8 images are converted.");
        var adapted = model.Clone();
        var graph = adapted.Graph;
        string inner = $"{prefix}{inputName}";
        foreach (var node in graph.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == inputName) node.Input[i] = inner;

        var steps = new List<NodeProto>();
        string current = inputName;
        string Step(string op, IEnumerable<string> inputs, params AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = $"{prefix}{op.ToLowerInvariant()}" };
            node.Input.AddRange(inputs);
            node.Output.Add($"{prefix}{op.ToLowerInvariant()}/{inputName}");
            node.Attribute.AddRange(attributes);
            steps.Add(node);
            return node.Output[0];
        }
        if (channelsLast) current = Step("Transpose", [current], Attributes.Ints("perm", 0, 2, 3, 1));
        if (type == TensorProto.Types.DataType.Uint8)
        {
            graph.Initializer.Add(Tensors.FromFloats(prefix + "zero", [], [0f]));
            graph.Initializer.Add(Tensors.FromFloats(prefix + "most", [], [255f]));
            current = Step("Clip", [Step("Round", [current]), prefix + "zero", prefix + "most"]);
        }
        if (type != TensorProto.Types.DataType.Float) current = Step("Cast", [current], Attributes.Int("to", (long)type));
        steps[^1].Output[0] = inner;
        for (int i = steps.Count - 1; i >= 0; i--) graph.Node.Insert(0, steps[i]);

        var outer = graph.Input.Single(i => i.Name == inputName).Type.TensorType;
        var dims = outer.Shape?.Dim.Select(d => d.Clone()).ToList();
        outer.ElemType = (int)TensorProto.Types.DataType.Float;
        if (channelsLast && dims is { Count: 4 })
        {
            outer.Shape!.Dim.Clear();
            outer.Shape.Dim.AddRange([dims[0], dims[3], dims[1], dims[2]]);
        }
        return adapted;
    }

    /// <summary>
    /// The part of a model downstream of one of its tensors: that tensor becomes the input (same name, symbolic shape),
    /// and only the nodes and initializers that the outputs need from it are kept. Used to re-run the rest of a
    /// network on edited activations (e.g. Ablation-CAM), in batches, with ONNX Runtime.
    /// </summary>
    public static ModelProto TailFrom(ModelProto model, string tensorName)
    {
        var graph = model.Graph;
        var needed = new HashSet<string> { graph.Output[0].Name };
        var kept = new List<NodeProto>();
        for (int i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (!node.Output.Any(needed.Contains) || node.Output.Contains(tensorName)) continue;
            kept.Add(node);
            foreach (var input in node.Input) if (input != tensorName) needed.Add(input);
        }
        kept.Reverse();
        var produced = kept.SelectMany(n => n.Output).ToHashSet();
        var tail = model.Clone();
        tail.Graph.Node.Clear();
        tail.Graph.Node.AddRange(kept.Select(n => n.Clone()));
        var initializers = graph.Initializer.Where(t => needed.Contains(t.Name)).Select(t => t.Clone()).ToList();
        tail.Graph.Initializer.Clear();
        tail.Graph.Initializer.AddRange(initializers);
        var missing = needed.Where(n => !produced.Contains(n) && n != tensorName && initializers.All(t => t.Name != n)
                                        && graph.Input.All(i => i.Name != n)).ToList();
        if (missing.Count > 0 || needed.Any(n => graph.Input.Any(i => i.Name == n)))
            throw new ArgumentException($"The model's outputs depend on more than '{tensorName}'; no tail model can start there.");
        tail.Graph.Input.Clear();
        tail.Graph.Input.Add(new ValueInfoProto
        {
            Name = tensorName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
        });
        tail.Graph.Output.Clear();
        tail.Graph.Output.AddRange(graph.Output.Take(1).Select(o => o.Clone()));
        return tail;
    }
}
