using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>A tensor with its shape (row-major).</summary>
public sealed record Tensor(float[] Data, int[] Shape)
{
    public int Batch => Shape[0];
}

/// <summary>One operation of a <see cref="SequentialNet"/>: forward, and backward given the forward input.</summary>
public interface INetOp
{
    /// <summary>Name of the tensor this op produces in the ONNX graph.</summary>
    string Output { get; }
    Tensor Forward(Tensor input);
    /// <summary>Gradient with respect to the input, given the input and the gradient with respect to the output.</summary>
    Tensor Backward(Tensor input, Tensor gradOutput);
}

/// <summary>
/// A model read as a chain of operations from its input to its output (RffConv layers in either form, max and average
/// pooling, global average pooling, flatten, Gemm), run in managed code: the forward pass from any point, and the
/// gradient of one output with respect to any intermediate tensor, for explanations.
/// </summary>
public sealed class SequentialNet
{
    private SequentialNet(IReadOnlyList<INetOp> ops) => Ops = ops;

    public IReadOnlyList<INetOp> Ops { get; }

    public int IndexOf(string tensor)
    {
        for (int i = 0; i < Ops.Count; i++) if (Ops[i].Output == tensor) return i;
        throw new ArgumentException($"No operation of the network produces '{tensor}'.");
    }

    /// <summary>
    /// True when everything after op <paramref name="opIndex"/> is linear in its output (average pooling, flatten, Gemm),
    /// so the class score is exactly the sum of gradient x activation: the condition for an exact CAM.
    /// </summary>
    public bool IsLinearAfter(int opIndex) => Ops.Skip(opIndex + 1).All(op => op is ILinearOp);

    /// <summary>Runs ops <paramref name="from"/>.. to the end, returning each op's input (for backward) and the output.</summary>
    public (List<Tensor> Inputs, Tensor Output) Forward(Tensor input, int from = 0)
    {
        var inputs = new List<Tensor>();
        var current = input;
        for (int i = from; i < Ops.Count; i++)
        {
            inputs.Add(current);
            current = Ops[i].Forward(current);
        }
        return (inputs, current);
    }

    /// <summary>
    /// Gradient of output[batch row, <paramref name="outputIndex"/>] with respect to the output of op <paramref name="opIndex"/>,
    /// given that tensor's value (batch 1).
    /// </summary>
    public Tensor GradientAt(int opIndex, Tensor activation, int outputIndex)
    {
        var (inputs, output) = Forward(activation, opIndex + 1);
        var grad = new Tensor(new float[output.Data.Length], output.Shape);
        grad.Data[outputIndex] = 1f;
        for (int i = Ops.Count - 1; i > opIndex; i--)
            grad = Ops[i].Backward(inputs[i - opIndex - 1], grad);
        return grad;
    }

    /// <summary>Reads the chain from the model's first input to its first output; throws <see cref="NotSupportedException"/> for anything else.</summary>
    public static SequentialNet FromModel(ModelProto model)
    {
        var inspector = new ModelInspector(model);
        var layers = inspector.FindRffLayers().ToDictionary(l => l.Input);
        var graph = model.Graph;
        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet();
        string current = graph.Input.First(i => !initializerNames.Contains(i.Name)).Name;
        string target = graph.Output[0].Name;
        var ops = new List<INetOp>();
        while (current != target)
        {
            if (layers.TryGetValue(current, out var layer))
            {
                ops.Add(RffConvOp.From(layer, inspector));
                current = layer.Output;
                continue;
            }
            var consumers = graph.Node.Where(n => n.Input.Contains(current)).ToList();
            if (consumers.Count != 1)
                throw new NotSupportedException($"'{current}' feeds {consumers.Count} nodes; explanations need a chain of operations.");
            var node = consumers[0];
            ops.Add(node.OpType switch
            {
                "MaxPool" or "AveragePool" => PoolOp.From(node),
                "GlobalAveragePool" => new GlobalAveragePoolOp(node.Output[0]),
                "Flatten" => new FlattenOp(node.Output[0]),
                "Gemm" => GemmOp.From(node, inspector),
                _ => throw new NotSupportedException($"Explanations do not support the {node.OpType} operation (node '{node.Name}')."),
            });
            current = node.Output[0];
        }
        return new SequentialNet(ops);
    }
}

/// <summary>An operation that is linear in its input (its output is a fixed linear map of it, plus a constant).</summary>
internal interface ILinearOp;

internal sealed class RffConvOp(string output, float[] weights, float[] bias, int m, int c, int kh, int kw, RffConvAttributes attributes) : INetOp
{
    public string Output => output;

    public static RffConvOp From(RffLayerInfo layer, ModelInspector inspector)
    {
        var weights = layer.WeightName is { } w && inspector.Initializer(w) is { } wt ? Tensors.ToFloats(wt)
            : throw new NotSupportedException($"RFF layer '{layer.Name}' has no constant weights.");
        var bias = layer.BiasName is { } b && inspector.Initializer(b) is { } bt ? Tensors.ToFloats(bt) : new float[layer.OutChannels];
        return new RffConvOp(layer.Output, weights, bias, layer.OutChannels, layer.InChannels, layer.KernelHeight, layer.KernelWidth, layer.Attributes);
    }

    private ConvGeometry Geometry(Tensor input) => input.Shape[1] == c
        ? new(input.Shape[0], c, input.Shape[2], input.Shape[3], m, kh, kw, attributes)
        : throw new ArgumentException($"RFF layer '{output}' takes {c} channels, got {input.Shape[1]}.");

    public Tensor Forward(Tensor input)
    {
        var g = Geometry(input);
        var y = new float[g.OutputLength];
        RffConvKernel.Forward(g, input.Data, weights, bias, y);
        return new Tensor(y, [g.N, m, g.OutH, g.OutW]);
    }

    public Tensor Backward(Tensor input, Tensor gradOutput)
    {
        var g = Geometry(input);
        var y = new float[g.OutputLength];
        var u = new float[g.OutputLength];
        RffConvKernel.Forward(g, input.Data, weights, bias, y, u);
        return new Tensor(RffConvKernel.Backward(g, weights, u, gradOutput.Data), input.Shape);
    }
}

internal class PoolOp(string output, bool max, int kh, int kw, int sh, int sw) : INetOp
{
    public string Output => output;

    public static PoolOp From(NodeProto node)
    {
        var kernel = Attributes.GetInts(node, "kernel_shape") ?? throw new NotSupportedException($"{node.OpType} without kernel_shape.");
        var strides = Attributes.GetInts(node, "strides") ?? [1, 1];
        var pads = Attributes.GetInts(node, "pads") ?? [0, 0, 0, 0];
        if (pads.Any(p => p != 0) || (Attributes.GetInt(node, "ceil_mode") ?? 0) != 0 || kernel.Length != 2)
            throw new NotSupportedException($"{node.OpType} '{node.Name}': only 2-D pooling without padding or ceil mode is supported.");
        return node.OpType == "MaxPool"
            ? new PoolOp(node.Output[0], true, (int)kernel[0], (int)kernel[1], (int)strides[0], (int)strides[1])
            : new AveragePoolOp(node.Output[0], (int)kernel[0], (int)kernel[1], (int)strides[0], (int)strides[1]);
    }

    private (int OutH, int OutW) OutSize(Tensor input) => ((input.Shape[2] - kh) / sh + 1, (input.Shape[3] - kw) / sw + 1);

    public Tensor Forward(Tensor input)
    {
        int planes = input.Shape[0] * input.Shape[1], h = input.Shape[2], w = input.Shape[3];
        var (outH, outW) = OutSize(input);
        var y = new float[planes * outH * outW];
        Parallel.For(0, planes, p =>
        {
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                {
                    float best = float.NegativeInfinity, sum = 0;
                    for (int dy = 0; dy < kh; dy++)
                        for (int dx = 0; dx < kw; dx++)
                        {
                            float v = input.Data[(p * h + oy * sh + dy) * w + ox * sw + dx];
                            best = Math.Max(best, v);
                            sum += v;
                        }
                    y[(p * outH + oy) * outW + ox] = max ? best : sum / (kh * kw);
                }
        });
        return new Tensor(y, [input.Shape[0], input.Shape[1], outH, outW]);
    }

    public Tensor Backward(Tensor input, Tensor gradOutput)
    {
        int planes = input.Shape[0] * input.Shape[1], h = input.Shape[2], w = input.Shape[3];
        var (outH, outW) = OutSize(input);
        var grad = new float[input.Data.Length];
        Parallel.For(0, planes, p =>
        {
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                {
                    float g = gradOutput.Data[(p * outH + oy) * outW + ox];
                    if (max)
                    {
                        int bestIndex = -1;
                        float best = float.NegativeInfinity;
                        for (int dy = 0; dy < kh; dy++)
                            for (int dx = 0; dx < kw; dx++)
                            {
                                int index = (p * h + oy * sh + dy) * w + ox * sw + dx;
                                if (input.Data[index] > best) (best, bestIndex) = (input.Data[index], index);
                            }
                        grad[bestIndex] += g;
                    }
                    else
                    {
                        for (int dy = 0; dy < kh; dy++)
                            for (int dx = 0; dx < kw; dx++)
                                grad[(p * h + oy * sh + dy) * w + ox * sw + dx] += g / (kh * kw);
                    }
                }
        });
        return new Tensor(grad, input.Shape);
    }
}

internal sealed class AveragePoolOp(string output, int kh, int kw, int sh, int sw) : PoolOp(output, false, kh, kw, sh, sw), ILinearOp;

internal sealed class GlobalAveragePoolOp(string output) : INetOp, ILinearOp
{
    public string Output => output;

    public Tensor Forward(Tensor input)
    {
        int planes = input.Shape[0] * input.Shape[1], size = input.Shape[2] * input.Shape[3];
        var y = new float[planes];
        for (int p = 0; p < planes; p++) y[p] = System.Numerics.Tensors.TensorPrimitives.Sum(input.Data.AsSpan(p * size, size)) / size;
        return new Tensor(y, [input.Shape[0], input.Shape[1], 1, 1]);
    }

    public Tensor Backward(Tensor input, Tensor gradOutput)
    {
        int size = input.Shape[2] * input.Shape[3];
        var grad = new float[input.Data.Length];
        for (int i = 0; i < grad.Length; i++) grad[i] = gradOutput.Data[i / size] / size;
        return new Tensor(grad, input.Shape);
    }
}

internal sealed class FlattenOp(string output) : INetOp, ILinearOp
{
    public string Output => output;
    public Tensor Forward(Tensor input) => new(input.Data, [input.Shape[0], input.Data.Length / input.Shape[0]]);
    public Tensor Backward(Tensor input, Tensor gradOutput) => new(gradOutput.Data, input.Shape);
}

/// <summary>Gemm with alpha = beta = 1: y = x Wᵀ + b (transB = 1) or x W + b (transB = 0).</summary>
internal sealed class GemmOp(string output, float[] weights, float[] bias, int outFeatures, int inFeatures, bool transposed) : INetOp, ILinearOp
{
    public string Output => output;

    public static GemmOp From(NodeProto node, ModelInspector inspector)
    {
        if ((Attributes.GetInt(node, "transA") ?? 0) != 0 || (Attributes.GetFloat(node, "alpha") ?? 1f) != 1f || (Attributes.GetFloat(node, "beta") ?? 1f) != 1f)
            throw new NotSupportedException($"Gemm '{node.Name}': only transA = 0, alpha = beta = 1 is supported.");
        var w = inspector.Initializer(node.Input[1]) ?? throw new NotSupportedException($"Gemm '{node.Name}' has no constant weights.");
        bool transposed = (Attributes.GetInt(node, "transB") ?? 0) != 0;
        int outFeatures = (int)(transposed ? w.Dims[0] : w.Dims[1]), inFeatures = (int)(transposed ? w.Dims[1] : w.Dims[0]);
        var bias = node.Input.Count > 2 && inspector.Initializer(node.Input[2]) is { } b ? Tensors.ToFloats(b) : new float[outFeatures];
        return new GemmOp(node.Output[0], Tensors.ToFloats(w), bias, outFeatures, inFeatures, transposed);
    }

    private float Weight(int o, int i) => transposed ? weights[o * inFeatures + i] : weights[i * outFeatures + o];

    public Tensor Forward(Tensor input)
    {
        int batch = input.Shape[0];
        var y = new float[batch * outFeatures];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = bias[o];
                for (int i = 0; i < inFeatures; i++) sum += input.Data[n * inFeatures + i] * Weight(o, i);
                y[n * outFeatures + o] = (float)sum;
            }
        return new Tensor(y, [batch, outFeatures]);
    }

    public Tensor Backward(Tensor input, Tensor gradOutput)
    {
        int batch = input.Shape[0];
        var grad = new float[input.Data.Length];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < outFeatures; o++)
            {
                float g = gradOutput.Data[n * outFeatures + o];
                if (g == 0) continue;
                for (int i = 0; i < inFeatures; i++) grad[n * inFeatures + i] += g * Weight(o, i);
            }
        return new Tensor(grad, input.Shape);
    }
}
