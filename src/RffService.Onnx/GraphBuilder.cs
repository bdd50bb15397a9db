using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>
/// A small fluent builder for ONNX models: inputs and outputs (with a symbolic batch dimension),
/// initializers, nodes, opset imports and metadata. RffConv nodes attach the operator's function.
/// </summary>
public sealed class GraphBuilder
{
    public const int DefaultOpset = RffConvOperator.BodyOpset;
    public const int IrVersion = 10;

    private readonly ModelProto _model;
    private readonly GraphProto _graph;
    private int _autoName;

    public GraphBuilder(string graphName, int opset = DefaultOpset)
    {
        _graph = new GraphProto { Name = graphName };
        _model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "RffService",
            ProducerVersion = typeof(GraphBuilder).Assembly.GetName().Version?.ToString() ?? "1.0",
            Graph = _graph,
        };
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
    }

    /// <summary>Adds a float graph input. A null dimension is symbolic: "batch" first, then "height" and "width" for NCHW.</summary>
    public GraphBuilder Input(string name, long?[] dims)
    {
        _graph.Input.Add(ValueInfo(name, dims));
        return this;
    }

    public GraphBuilder Output(string name, long?[] dims, TensorProto.Types.DataType type = TensorProto.Types.DataType.Float)
    {
        _graph.Output.Add(ValueInfo(name, dims, type));
        return this;
    }

    public GraphBuilder Initializer(string name, long[] dims, ReadOnlySpan<float> values)
    {
        _graph.Initializer.Add(Tensors.FromFloats(name, dims, values));
        return this;
    }

    public GraphBuilder Int64Initializer(string name, long[] dims, ReadOnlySpan<long> values)
    {
        _graph.Initializer.Add(Tensors.FromInt64s(name, dims, values));
        return this;
    }

    public GraphBuilder Node(string opType, string[] inputs, string[] outputs, string? name = null, string domain = "",
        params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Domain = domain, Name = name ?? $"{opType}_{_autoName++}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return this;
    }

    /// <summary>Adds an <c>ai.rff::RffConv</c> node whose weights and bias are stored as initializers.</summary>
    public GraphBuilder RffConv(string name, string input, string output, float[] weights, long[] weightShape, float[] bias,
        RffConvAttributes attributes)
    {
        attributes.Validate();
        if (weightShape.Length != 4) throw new ArgumentException("RffConv weights must have shape [M, C, kH, kW].");
        if (bias.Length != weightShape[0]) throw new ArgumentException($"RffConv bias must have {weightShape[0]} values, got {bias.Length}.");
        Initializer($"{name}.W", weightShape, weights);
        Initializer($"{name}.B", [weightShape[0]], bias);
        RffConvOperator.AttachTo(_model);
        return Node(RffConvOperator.OpType, [input, $"{name}.W", $"{name}.B"], [output], name, RffConvOperator.Domain,
            attributes.ToAttributes().ToArray());
    }

    private static string SymbolicName(int index, int rank) => (index, rank) switch
    {
        (0, _) => "batch",
        (2, 4) => "height",
        (3, 4) => "width",
        _ => $"dim{index}",
    };

    public GraphBuilder Metadata(string key, string value)
    {
        _model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return this;
    }

    public GraphBuilder DocString(string text)
    {
        _model.DocString = text;
        return this;
    }

    public ModelProto Build() => _model.Clone();

    private static ValueInfoProto ValueInfo(string name, long?[] dims, TensorProto.Types.DataType type = TensorProto.Types.DataType.Float)
    {
        var shape = new TensorShapeProto();
        for (int i = 0; i < dims.Length; i++)
            shape.Dim.Add(dims[i] is { } value ? new TensorShapeProto.Types.Dimension { DimValue = value }
                                               : new TensorShapeProto.Types.Dimension { DimParam = SymbolicName(i, dims.Length) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape },
            },
        };
    }
}
