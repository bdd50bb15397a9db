using RffService.Onnx;

namespace RffService.Training.Tests;

public class KernelApproximationTests
{
    /// <summary>
    /// The dense single-layer form: z(x) = sqrt(2/Q) cos(W x / sigma + b), i.e. RffConv on a [D, 1, 1] input with 1x1
    /// kernels. z(x)ᵀz(y) approximates exp(-|x-y|² / (2 sigma²)), with an error that shrinks as 1/sqrt(Q).
    /// </summary>
    private static double MeanAbsoluteError(int q, int seed)
    {
        const int d = 8, pairs = 200;
        const float sigma = 2f;
        var random = new Random(seed);
        var layer = RffLayerSpec.Random(d, q, kernel: 1, sigma, poolSize: 1, random);
        Assert.Equal(MathF.Sqrt(2f / q), layer.Attributes.Scale);
        var geometry = new ConvGeometry(2 * pairs, d, 1, 1, q, 1, 1, layer.Attributes);
        var x = new float[2 * pairs * d];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(RffLayerSpec.Gaussian(random) * 0.8);
        var z = new float[2 * pairs * q];
        RffConvKernel.Forward(geometry, x, layer.Weights, layer.Bias, z);

        double error = 0;
        for (int p = 0; p < pairs; p++)
        {
            var a = x.AsSpan(2 * p * d, d);
            var b = x.AsSpan((2 * p + 1) * d, d);
            double distance2 = 0;
            for (int i = 0; i < d; i++) distance2 += (a[i] - b[i]) * (a[i] - b[i]);
            double exact = Math.Exp(-distance2 / (2 * sigma * sigma));
            double approx = 0;
            for (int j = 0; j < q; j++) approx += z[2 * p * q + j] * z[(2 * p + 1) * q + j];
            error += Math.Abs(approx - exact);
        }
        return error / pairs;
    }

    [Fact]
    public void Error_shrinks_roughly_as_one_over_sqrt_q()
    {
        int[] qs = [64, 256, 1024, 4096];
        var errors = qs.Select(q => Enumerable.Range(0, 3).Average(seed => MeanAbsoluteError(q, seed))).ToArray();
        for (int i = 0; i < qs.Length; i++)
        {
            double scaled = errors[i] * Math.Sqrt(qs[i]); // constant if error ~ c / sqrt(Q)
            Assert.InRange(scaled, 0.2, 1.5);
        }
        for (int i = 1; i < qs.Length; i++)
            Assert.InRange(errors[i - 1] / errors[i], 1.4, 2.9); // each 4x in Q halves the error (ratio 2)
        Assert.True(errors[^1] < 0.02, $"error at Q = 4096 is {errors[^1]:F4}");
    }
}
