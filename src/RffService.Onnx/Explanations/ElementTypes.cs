using RffService.Onnx.Proto;
using DataType = RffService.Onnx.Proto.TensorProto.Types.DataType;

namespace RffService.Onnx.Explanations;

/// <summary>
/// The element type of every tensor of a graph, propagated from the inputs and initializers through the operators
/// CNN exports use (shape arithmetic gives int64, comparisons bool, Cast its target, most ops their first input's type).
/// Explanations need it to tell differentiable (float) tensors from shape computations, and to expose intermediate tensors.
/// </summary>
public static class ElementTypes
{
    public static Dictionary<string, int> Infer(GraphProto graph)
    {
        var types = new Dictionary<string, int>();
        foreach (var input in graph.Input) types[input.Name] = input.Type?.TensorType?.ElemType ?? (int)DataType.Float;
        foreach (var initializer in graph.Initializer) types[initializer.Name] = initializer.DataType;
        foreach (var node in graph.Node)
        {
            int first = node.Input.Count > 0 && types.TryGetValue(node.Input[0], out var t) ? t : (int)DataType.Float;
            int type = node.OpType switch
            {
                "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => (int)DataType.Int64,
                "Equal" or "Greater" or "Less" or "GreaterOrEqual" or "LessOrEqual" or "Not" or "And" or "Or" or "Xor" or "IsNaN" or "IsInf" => (int)DataType.Bool,
                "Cast" => (int)(Attributes.GetInt(node, "to") ?? first),
                "Constant" => ConstantType(node),
                "ConstantOfShape" => node.Attribute.FirstOrDefault(a => a.Name == "value")?.T?.DataType ?? (int)DataType.Float,
                "Where" => node.Input.Count > 1 && types.TryGetValue(node.Input[1], out var w) ? w : first,
                "Range" => first,
                _ => first,
            };
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i].Length == 0) continue;
                types[node.Output[i]] = (node.OpType, i) switch
                {
                    ("MaxPool", 1) => (int)DataType.Int64, // indices
                    ("TopK", 1) => (int)DataType.Int64,
                    _ => type,
                };
            }
        }
        return types;
    }

    public static bool IsFloat(int type) => type == (int)DataType.Float;

    private static int ConstantType(NodeProto node)
    {
        var attribute = node.Attribute.FirstOrDefault();
        return attribute?.Name switch
        {
            "value" => attribute.T.DataType,
            "value_float" or "value_floats" => (int)DataType.Float,
            "value_int" or "value_ints" => (int)DataType.Int64,
            _ => (int)DataType.Float,
        };
    }
}
