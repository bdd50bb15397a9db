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
}
