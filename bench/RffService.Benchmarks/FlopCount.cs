using RffService.Onnx;
using RffService.Onnx.Explanations;
using RffService.Onnx.Runtime;

namespace RffService.Benchmarks;

/// <summary>
/// Floating-point work per image of an ONNX model, counted from its graph with every tensor's shape (functions
/// inlined, so RffConv counts as its Conv, Cos and Mul): a multiply-add is 2 operations (Conv, Gemm, MatMul), every
/// other float op 1 per output element (Cos included, although it costs a CPU several), pooling 1 per input element.
/// </summary>
public static class FlopCount
{
    public sealed record Work(double MultiplyAdds, double Elementwise)
    {
        public double Total => MultiplyAdds + Elementwise;
    }

    public static Work PerImage(string modelPath, string inputName, long[] inputShape)
    {
        var prepared = PreparedModel.Prepare(OnnxModelFile.Load(modelPath), inputName, inputShape, new SessionFactory(SessionSettings.Cpu));
        double batch = prepared.InputShape[0];
        double multiplyAdds = 0, elementwise = 0;
        foreach (var node in prepared.Model.Graph.Node)
        {
            if (node.Output.Count == 0 || !prepared.Shapes.TryGetValue(node.Output[0], out var output)) continue;
            double outputs = Elements(output);
            switch (node.OpType)
            {
                case "Conv":
                    var weight = prepared.Shapes[node.Input[1]]; // [Cout, Cin / group, kh, kw]
                    multiplyAdds += 2 * outputs * weight[1] * weight[2] * weight[3];
                    if (node.Input.Count > 2) elementwise += outputs;
                    break;
                case "Gemm" or "MatMul":
                    var a = prepared.Shapes[node.Input[0]];
                    bool transA = node.OpType == "Gemm" && node.Attribute.Any(x => x.Name == "transA" && x.I == 1);
                    multiplyAdds += 2 * outputs * (transA ? a[^2] : a[^1]);
                    if (node.OpType == "Gemm" && node.Input.Count > 2) elementwise += outputs;
                    break;
                case "MaxPool" or "AveragePool" or "GlobalAveragePool" or "GlobalMaxPool" or "ReduceMean" or "ReduceSum" or "ReduceMax":
                    elementwise += Elements(prepared.Shapes[node.Input[0]]);
                    break;
                case "Reshape" or "Flatten" or "Transpose" or "Squeeze" or "Unsqueeze" or "Concat" or "Slice" or "Identity" or "Shape" or "Gather":
                    break; // data movement, no arithmetic
                default:
                    if (prepared.IsFloat(node.Output[0])) elementwise += outputs;
                    break;
            }
        }
        return new Work(multiplyAdds / batch, elementwise / batch);
    }

    private static double Elements(long[] shape) => shape.Aggregate(1.0, (a, b) => a * b);
}
