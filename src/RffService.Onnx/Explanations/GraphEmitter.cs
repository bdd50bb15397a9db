using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>Appends nodes and constants to a graph under fresh, prefixed names.</summary>
internal sealed class GraphEmitter(GraphProto graph, string prefix)
{
    private int _next;
    private readonly Dictionary<string, string> _shapes = new();

    public string Fresh(string hint) => $"{prefix}{hint}_{_next++}";

    public string Op(string opType, IEnumerable<string> inputs, params AttributeProto[] attributes) => Ops(opType, inputs, 1, attributes)[0];

    public string[] Ops(string opType, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh(opType) };
        node.Input.AddRange(inputs);
        for (int i = 0; i < outputs; i++) node.Output.Add(Fresh(opType.ToLowerInvariant()));
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return node.Output.ToArray();
    }

    public string Int64s(params long[] values) => Int64s([values.Length], values);

    public string Int64s(long[] dims, long[] values)
    {
        string name = Fresh("const_i64");
        graph.Initializer.Add(Tensors.FromInt64s(name, dims, values));
        return name;
    }

    public string Float(float value)
    {
        string name = Fresh("const_f");
        graph.Initializer.Add(Tensors.FromFloats(name, [], [value]));
        return name;
    }

    public string Floats(long[] dims, float[] values)
    {
        string name = Fresh("const_fs");
        graph.Initializer.Add(Tensors.FromFloats(name, dims, values));
        return name;
    }

    /// <summary>The runtime shape of a tensor (one Shape node per tensor).</summary>
    public string Shape(string tensor)
    {
        if (!_shapes.TryGetValue(tensor, out var shape)) _shapes[tensor] = shape = Op("Shape", [tensor]);
        return shape;
    }

    /// <summary>A float tensor of zeros shaped like <paramref name="like"/>.</summary>
    public string ZerosLike(string like) =>
        Op("ConstantOfShape", [Shape(like)], Attributes.Tensor("value", Tensors.FromFloats("zero", [1], [0f])));

    public string Reshape(string tensor, string shape) => Op("Reshape", [tensor, shape]);
}
