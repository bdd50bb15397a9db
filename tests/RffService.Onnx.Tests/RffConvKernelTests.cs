namespace RffService.Onnx.Tests;

public class RffConvKernelTests
{
    public static TheoryData<int, int, int, int, int, int> ShapeGrid()
    {
        var data = new TheoryData<int, int, int, int, int, int>();
        foreach (int channels in new[] { 1, 3 })
            foreach (int kernel in new[] { 1, 3, 5 })
                foreach (int stride in new[] { 1, 2 })
                    foreach (int pad in new[] { 0, 1, 2 })
                        foreach (int dilation in new[] { 1, 2 })
                            foreach (int batch in new[] { 1, 4 })
                                data.Add(channels, kernel, stride, pad, dilation, batch);
        return data;
    }

    [Theory]
    [MemberData(nameof(ShapeGrid))]
    public void Managed_kernel_matches_onnx_runtime(int channels, int kernel, int stride, int pad, int dilation, int batch)
    {
        const int height = 11, width = 13, features = 8;
        var random = new Random(channels * 100_003 + kernel * 10_007 + stride * 1_009 + pad * 101 + dilation * 11 + batch); // the same inputs in every run
        var attributes = new RffConvAttributes(Sigma: 1.7f, Scale: MathF.Sqrt(2f / features),
            StrideH: stride, StrideW: stride, PadTop: pad, PadLeft: pad, PadBottom: pad, PadRight: pad,
            DilationH: dilation, DilationW: dilation);
        var geometry = new ConvGeometry(batch, channels, height, width, features, kernel, kernel, attributes);
        var x = RandomValues(random, geometry.InputLength);
        var w = RandomValues(random, geometry.WeightLength);
        var b = Enumerable.Range(0, features).Select(_ => (float)(random.NextDouble() * 2 * Math.PI)).ToArray();

        var model = new GraphBuilder("rffconv")
            .Input("X", [null, channels, height, width])
            .Output("Y", [null, features, null, null])
            .RffConv("layer", "X", "Y", w, [features, channels, kernel, kernel], b, attributes)
            .Build();
        var (expected, shape) = OrtRunner.Run(model, "X", x, [batch, channels, height, width]);

        var actual = new float[geometry.OutputLength];
        RffConvKernel.Forward(geometry, x, w, b, actual);

        Assert.Equal(new long[] { batch, features, geometry.OutH, geometry.OutW }, shape);
        Assert.True(MaxRelativeError(actual, expected, attributes.Scale) <= 1e-4,
            $"max relative error {MaxRelativeError(actual, expected, attributes.Scale):E2}");
    }

    [Fact]
    public void Kernel_computes_the_definition_on_a_hand_worked_case()
    {
        // 1x1x2x2 input, one 1x1 filter of weight 2, sigma 2, bias pi/2, scale 3: Y = 3 cos(x + pi/2) = -3 sin(x).
        float[] x = [0f, 0.5f, 1f, -1f];
        var attributes = RffConvAttributes.Create(sigma: 2f, scale: 3f);
        var geometry = new ConvGeometry(1, 1, 2, 2, 1, 1, 1, attributes);
        var y = new float[4];
        RffConvKernel.Forward(geometry, x, [2f], [MathF.PI / 2], y);
        for (int i = 0; i < 4; i++) Assert.Equal(-3f * MathF.Sin(x[i]), y[i], 1e-5f);
    }

    [Fact]
    public void Kernel_rejects_a_kernel_larger_than_the_padded_input()
    {
        var geometry = new ConvGeometry(1, 1, 3, 3, 1, 5, 5, RffConvAttributes.Create(1f));
        Assert.Throws<ArgumentException>(() => RffConvKernel.Forward(geometry, new float[9], new float[25], new float[1], new float[1]));
    }

    /// <summary>
    /// Relative error measured against the output's amplitude: max |a - e| / scale (|Y| never exceeds scale).
    /// An element-wise |a - e| / |e| is ill-conditioned where the cosine crosses zero: there float32 rounding of the
    /// argument (about 1e-6) is divided by a value near 0.
    /// </summary>
    internal static double MaxRelativeError(float[] actual, float[] expected, float scale)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / Math.Abs(scale));
        return worst;
    }

    private static float[] RandomValues(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)RffLayerSpec.Gaussian(random);
        return values;
    }
}
