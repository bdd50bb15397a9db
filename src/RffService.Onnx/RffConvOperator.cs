using AttrType = RffService.Onnx.Proto.AttributeProto.Types.AttributeType;
using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>
/// The <c>ai.rff::RffConv</c> operator (version 1): <c>Y = scale * cos(Conv(X, W) / sigma + B)</c>.
/// Models carry its definition as an ONNX model-local function built from standard ops,
/// so every ONNX Runtime build (CPU or CUDA) runs it without a custom-op library.
/// </summary>
public static class RffConvOperator
{
    public const string Domain = "ai.rff";
    public const string OpType = "RffConv";
    public const int Version = 1;

    /// <summary>Standard-domain opset the function body binds against.</summary>
    public const int BodyOpset = 17;

    /// <summary>
    /// The function body. <c>Conv(X, W / sigma, B)</c> equals <c>Conv(X, W) / sigma + B</c> and lets
    /// ONNX Runtime fold the division into the (constant) weights and fuse the bias into Conv.
    /// </summary>
    public static FunctionProto CreateFunction()
    {
        var function = new FunctionProto
        {
            Name = OpType,
            Domain = Domain,
            DocString = "Random Fourier features in convolutional form: Y = scale * cos(Conv(X, W) / sigma + B).",
        };
        function.Input.AddRange(["X", "W", "B"]);
        function.Output.Add("Y");
        function.Attribute.AddRange(["sigma", "strides", "pads", "dilations"]);
        function.AttributeProto.Add(Attributes.Float("scale", 1f));
        function.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = BodyOpset });

        function.Node.Add(Node("Constant", [], ["sigma_t"], Attributes.Reference("value_float", "sigma", AttrType.Float)));
        function.Node.Add(Node("Div", ["W", "sigma_t"], ["w_over_sigma"]));
        function.Node.Add(Node("Conv", ["X", "w_over_sigma", "B"], ["z"],
            Attributes.Reference("strides", "strides", AttrType.Ints),
            Attributes.Reference("pads", "pads", AttrType.Ints),
            Attributes.Reference("dilations", "dilations", AttrType.Ints)));
        function.Node.Add(Node("Cos", ["z"], ["c"]));
        function.Node.Add(Node("Constant", [], ["scale_t"], Attributes.Reference("value_float", "scale", AttrType.Float)));
        function.Node.Add(Node("Mul", ["c", "scale_t"], ["Y"]));
        return function;
    }

    public static bool IsRffConv(NodeProto node) => node.Domain == Domain && node.OpType == OpType;

    /// <summary>
    /// A model that uses the operator without carrying its definition (a plain <c>torch.onnx.export</c> of a model with
    /// <c>RffConv2d</c> writes the node and no function) gets the definition this service owns; returns whether it did.
    /// A model that carries its own definition keeps it.
    /// </summary>
    public static bool SupplyDefinition(ModelProto model)
    {
        if (model.Functions.Any(f => f.Domain == Domain && f.Name == OpType)) return false;
        if (!Nodes(model.Graph).Concat(model.Functions.SelectMany(f => f.Node)).Any(IsRffConv)) return false;
        AttachTo(model);
        return true;
    }

    /// <summary>Every node of the graph and of its subgraphs (If, Loop, Scan bodies).</summary>
    private static IEnumerable<NodeProto> Nodes(GraphProto graph) =>
        graph.Node.SelectMany(n => new[] { n }.Concat(Subgraphs.Of(n).SelectMany(Nodes)));

    /// <summary>Adds the operator's function and opset import to a model that lacks them.</summary>
    public static void AttachTo(ModelProto model)
    {
        if (!model.Functions.Any(f => f.Domain == Domain && f.Name == OpType))
            model.Functions.Add(CreateFunction());
        if (!model.OpsetImport.Any(o => o.Domain == Domain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = Version });
    }

    private static NodeProto Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Domain = "" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }
}
