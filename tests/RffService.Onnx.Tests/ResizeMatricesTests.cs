using RffService.Onnx.Explanations;

namespace RffService.Onnx.Tests;

/// <summary>The interpolation matrices of Resize's gradient reproduce ONNX Runtime's own Resize: A_H X A_W^T = Resize(X).</summary>
public class ResizeMatricesTests
{
    [Theory]
    [InlineData("nearest", "asymmetric", "floor", 2f)]            // nn.Upsample(scale_factor=2) as torch exports it
    [InlineData("nearest", "half_pixel", "round_prefer_floor", 2f)]
    [InlineData("nearest", "asymmetric", "floor", 1.5f)]
    [InlineData("linear", "pytorch_half_pixel", "round_prefer_floor", 2f)] // bilinear, align_corners=False
    [InlineData("linear", "align_corners", "round_prefer_floor", 2f)]      // bilinear, align_corners=True
    [InlineData("linear", "half_pixel", "round_prefer_floor", 0.5f)]       // downsampling
    [InlineData("linear", "asymmetric", "round_prefer_floor", 3f)]
    public void The_matrices_give_what_onnx_runtime_gives(string mode, string transform, string rounding, float scale)
    {
        const int H = 6, W = 5;
        int outH = (int)Math.Floor(H * scale), outW = (int)Math.Floor(W * scale);
        var model = new GraphBuilder("resize", 13).Input("x", [1, 2, H, W]).Output("y", [1, 2, outH, outW])
            .Initializer("roi", [0], [])
            .Initializer("scales", [4], [1f, 1f, scale, scale])
            .Node("Resize", ["x", "roi", "scales"], ["y"], attributes: [Attributes.String("mode", mode),
                Attributes.String("coordinate_transformation_mode", transform), Attributes.String("nearest_mode", rounding)])
            .Build();
        var x = Enumerable.Range(0, 2 * H * W).Select(i => MathF.Sin(i * 0.7f) + i * 0.01f).ToArray();
        var (expected, shape) = OrtRunner.Run(model, "x", x, [1, 2, H, W]);
        Assert.Equal([1L, 2L, outH, outW], shape);

        var node = model.Graph.Node[0];
        var alongH = ResizeMatrices.Axis(node, H, outH, scale);
        var alongW = ResizeMatrices.Axis(node, W, outW, scale);
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < outH; i++)
                for (int j = 0; j < outW; j++)
                {
                    double sum = 0;
                    for (int p = 0; p < H; p++)
                        for (int q = 0; q < W; q++) sum += alongH[i * H + p] * x[c * H * W + p * W + q] * alongW[j * W + q];
                    Assert.True(Math.Abs(sum - expected[c * outH * outW + i * outW + j]) < 1e-4, $"({c}, {i}, {j}): {sum} against ONNX Runtime's {expected[c * outH * outW + i * outW + j]}");
                }
    }
}
