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
