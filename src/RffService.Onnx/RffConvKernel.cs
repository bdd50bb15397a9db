using System.Numerics.Tensors;

namespace RffService.Onnx;

/// <summary>
/// Managed forward pass of <c>ai.rff::RffConv</c>, the independent reference the tests check ONNX Runtime's execution of
/// the operator's function against: <c>Y = scale * cos(Conv(X, W) / sigma + B)</c>.
/// Parallel over (image, output channel) planes; the inner loop is a vectorised multiply-add over
/// contiguous input rows (stride 1) via <see cref="TensorPrimitives"/>.
/// </summary>
public static class RffConvKernel
{
    /// <summary>Computes the layer output: the reference that checks ONNX Runtime's execution of the operator's function.</summary>
    public static void Forward(ConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
    {
        g.Validate();
        if (x.Length != g.InputLength) throw new ArgumentException($"Input has {x.Length} values, expected {g.InputLength}.");
        if (w.Length != g.WeightLength) throw new ArgumentException($"Weights have {w.Length} values, expected {g.WeightLength}.");
        if (b.Length != g.M) throw new ArgumentException($"Bias has {b.Length} values, expected {g.M}.");
        if (y.Length != g.OutputLength) throw new ArgumentException($"Output has {y.Length} values, expected {g.OutputLength}.");

        // Scale the weights once, as the ONNX function does (W / sigma), so both paths round alike.
        var scaledWeights = new float[w.Length];
        TensorPrimitives.Divide(w, g.Attributes.Sigma, scaledWeights);
        var input = x.ToArray();
        var bias = b.ToArray();
        int plane = g.OutH * g.OutW;
        var output = new float[g.OutputLength];

        Parallel.For(0, g.N * g.M, index =>
        {
            int n = index / g.M, m = index % g.M;
            var acc = output.AsSpan((n * g.M + m) * plane, plane);
            acc.Fill(bias[m]);
            AccumulatePlane(g, input.AsSpan(n * g.C * g.H * g.W, g.C * g.H * g.W),
                scaledWeights.AsSpan(m * g.C * g.KH * g.KW, g.C * g.KH * g.KW), acc);
        });

        TensorPrimitives.Cos(output, y);
        if (g.Attributes.Scale != 1f) TensorPrimitives.Multiply(y, g.Attributes.Scale, y);
    }


    /// <summary>Adds one output channel's convolution (over all input channels) into <paramref name="acc"/>.</summary>
    internal static void AccumulatePlane(ConvGeometry g, ReadOnlySpan<float> image, ReadOnlySpan<float> filter, Span<float> acc)
    {
        var a = g.Attributes;
        int outH = g.OutH, outW = g.OutW;
        for (int c = 0; c < g.C; c++)
        {
            var channel = image.Slice(c * g.H * g.W, g.H * g.W);
            for (int ky = 0; ky < g.KH; ky++)
                for (int kx = 0; kx < g.KW; kx++)
                {
                    float weight = filter[(c * g.KH + ky) * g.KW + kx];
                    int offsetX = kx * a.DilationW - a.PadLeft;
                    // Output columns whose input column ox*stride + offsetX lies inside the image.
                    int oxStart = Math.Max(0, CeilDiv(-offsetX, a.StrideW));
                    int oxEnd = Math.Min(outW, FloorDiv(g.W - 1 - offsetX, a.StrideW) + 1);
                    if (oxEnd <= oxStart) continue;
                    int count = oxEnd - oxStart;
                    for (int oy = 0; oy < outH; oy++)
                    {
                        int iy = oy * a.StrideH + ky * a.DilationH - a.PadTop;
                        if ((uint)iy >= (uint)g.H) continue;
                        var row = channel.Slice(iy * g.W, g.W);
                        var accRow = acc.Slice(oy * outW + oxStart, count);
                        int ix0 = oxStart * a.StrideW + offsetX;
                        if (a.StrideW == 1)
                        {
                            TensorPrimitives.MultiplyAdd(row.Slice(ix0, count), weight, accRow, accRow);
                        }
                        else
                        {
                            for (int i = 0; i < count; i++) accRow[i] += weight * row[ix0 + i * a.StrideW];
                        }
                    }
                }
        }
    }

    private static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -((-a) / b);
    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
