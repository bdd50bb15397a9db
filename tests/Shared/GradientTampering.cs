using RffService.Onnx.Proto;

namespace RffService.TestSupport;

/// <summary>Makes an explanation graph's gradient output wrong on purpose, to show that the self-check catches it.</summary>
public static class GradientTampering
{
    /// <summary>Multiplies <paramref name="output"/> by <paramref name="factor"/> inside <paramref name="graph"/>.</summary>
    public static void Scale(ModelProto graph, string output, float factor)
    {
        var producer = graph.Graph.Node.Single(n => n.Output.Contains(output));
        producer.Output[producer.Output.IndexOf(output)] = output + "/unscaled";
        var scale = new TensorProto { Name = output + "/scale", DataType = (int)TensorProto.Types.DataType.Float };
        scale.FloatData.Add(factor);
        graph.Graph.Initializer.Add(scale);
        graph.Graph.Node.Add(new NodeProto { OpType = "Mul", Input = { output + "/unscaled", scale.Name }, Output = { output } });
    }
}
