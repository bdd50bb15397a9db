namespace RffService.Onnx;

/// <summary>Shapes of a 2-D convolution: input [N, C, H, W], weights [M, C, kH, kW], output [N, M, OH, OW].</summary>
public readonly record struct ConvGeometry(int N, int C, int H, int W, int M, int KH, int KW, RffConvAttributes Attributes)
{
    public int OutH => (H + Attributes.PadTop + Attributes.PadBottom - Attributes.DilationH * (KH - 1) - 1) / Attributes.StrideH + 1;
    public int OutW => (W + Attributes.PadLeft + Attributes.PadRight - Attributes.DilationW * (KW - 1) - 1) / Attributes.StrideW + 1;

    public int InputLength => N * C * H * W;
    public int WeightLength => M * C * KH * KW;
    public int OutputLength => N * M * OutH * OutW;

    public void Validate()
    {
        Attributes.Validate();
        if (N < 1 || C < 1 || H < 1 || W < 1 || M < 1 || KH < 1 || KW < 1)
            throw new ArgumentException($"Invalid convolution shape: input [{N}, {C}, {H}, {W}], weights [{M}, {C}, {KH}, {KW}].");
        if (OutH < 1 || OutW < 1)
            throw new ArgumentException($"The kernel ({KH}x{KW}, dilation {Attributes.DilationH}x{Attributes.DilationW}) does not fit the padded {H}x{W} input.");
    }
}
