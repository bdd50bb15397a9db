using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>
/// Attributes of <c>ai.rff::RffConv</c>: <c>Y = scale * cos(Conv(X, W) / sigma + B)</c>.
/// Strides, pads and dilations follow ONNX Conv (pads are [top, left, bottom, right]).
/// </summary>
public sealed record RffConvAttributes(
    float Sigma,
    float Scale = 1f,
    int StrideH = 1, int StrideW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1)
{
    public static RffConvAttributes Create(float sigma, float scale = 1f, int stride = 1, int pad = 0, int dilation = 1) =>
        new(sigma, scale, stride, stride, pad, pad, pad, pad, dilation, dilation);

    public void Validate()
    {
        if (!(Sigma > 0) || float.IsInfinity(Sigma)) throw new ArgumentException($"RffConv sigma must be a finite number > 0, got {Sigma}.");
        if (!float.IsFinite(Scale)) throw new ArgumentException($"RffConv scale must be finite, got {Scale}.");
        if (StrideH < 1 || StrideW < 1) throw new ArgumentException("RffConv strides must be >= 1.");
        if (DilationH < 1 || DilationW < 1) throw new ArgumentException("RffConv dilations must be >= 1.");
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0) throw new ArgumentException("RffConv pads must be >= 0.");
    }

    public IEnumerable<AttributeProto> ToAttributes()
    {
        yield return Attributes.Float("sigma", Sigma);
        yield return Attributes.Float("scale", Scale);
        yield return Attributes.Ints("strides", StrideH, StrideW);
        yield return Attributes.Ints("pads", PadTop, PadLeft, PadBottom, PadRight);
        yield return Attributes.Ints("dilations", DilationH, DilationW);
    }

    /// <summary>Reads the attributes of an RffConv node, applying the operator's defaults.</summary>
    public static RffConvAttributes FromNode(NodeProto node)
    {
        float sigma = Attributes.GetFloat(node, "sigma") ?? throw new InvalidDataException($"RffConv node '{node.Name}' has no 'sigma' attribute.");
        float scale = Attributes.GetFloat(node, "scale") ?? 1f;
        var strides = Attributes.GetInts(node, "strides") ?? [1, 1];
        var pads = Attributes.GetInts(node, "pads") ?? [0, 0, 0, 0];
        var dilations = Attributes.GetInts(node, "dilations") ?? [1, 1];
        return FromConvStyle(sigma, scale, strides, pads, dilations);
    }

    internal static RffConvAttributes FromConvStyle(float sigma, float scale, long[] strides, long[] pads, long[] dilations)
    {
        if (strides.Length != 2 || pads.Length != 4 || dilations.Length != 2)
            throw new InvalidDataException("RffConv supports 2-D convolution only (strides: 2 values, pads: 4, dilations: 2).");
        return new RffConvAttributes(sigma, scale,
            (int)strides[0], (int)strides[1],
            (int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3],
            (int)dilations[0], (int)dilations[1]);
    }
}
