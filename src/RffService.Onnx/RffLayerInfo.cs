namespace RffService.Onnx;

/// <summary>How an RFF layer is expressed in a graph.</summary>
public enum RffLayerForm
{
    /// <summary>An <c>ai.rff::RffConv</c> node.</summary>
    CustomOp,
    /// <summary>A chain of standard ops: Conv -> (Div | Mul)? -> Add? -> Cos -> Mul?.</summary>
    StandardOpChain,
}

/// <summary>An RFF layer found in a model: its name, the tensor it produces and its parameters.</summary>
/// <param name="Name">Node name (or output name when the node has none).</param>
/// <param name="Output">Name of the tensor holding the layer's features (after cos and scale).</param>
/// <param name="Input">Name of the layer's input tensor.</param>
/// <param name="OutChannels">Number of random features per location (M).</param>
/// <param name="InChannels">Input channels (C).</param>
/// <param name="KernelHeight">Kernel height.</param>
/// <param name="KernelWidth">Kernel width.</param>
/// <param name="Attributes">Sigma, scale, strides, pads, dilations.</param>
/// <param name="WeightName">Initializer holding W (null when W is computed in the graph).</param>
/// <param name="BiasName">Initializer holding B (null when absent).</param>
/// <param name="Form">Custom op or standard-op chain.</param>
public sealed record RffLayerInfo(
    string Name,
    string Output,
    string Input,
    int OutChannels,
    int InChannels,
    int KernelHeight,
    int KernelWidth,
    RffConvAttributes Attributes,
    string? WeightName,
    string? BiasName,
    RffLayerForm Form);
