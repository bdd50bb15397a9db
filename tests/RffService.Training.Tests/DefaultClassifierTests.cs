using RffService.TestSupport;
using RffService.Training.Evaluation;

namespace RffService.Training.Tests;

/// <summary>The committed default classifier on held-out Fashion-MNIST items, through the service's code path.</summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Model quality")]
public class DefaultClassifierTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    [Fact]
    public void The_default_model_is_trained_and_classifies_held_out_items()
    {
        var sample = data.Test.Subset(Enumerable.Range(0, data.Test.Count).Where(i => i % 20 == 0).ToList()); // 500 images
        var report = ModelEvaluator.InProcess(data.ModelsRoot, "rff-cnn-fashion", sample);
        Assert.True(report.Accuracy >= 0.85, report.Format());
    }
}

[Trait("Category", "Slow")]
[Trait("Needs", "Data set")]
public class PointingGameCanvasTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    [Fact]
    public void Canvases_hold_one_native_size_item_off_centre_with_its_tight_box()
    {
        var canvases = PointingCanvases.Canvases(data.Test, count: 50, seed: 3);
        Assert.True(canvases.Count >= 49);
        foreach (var canvas in canvases)
        {
            using var bitmap = SkiaSharp.SKBitmap.Decode(canvas.Png);
            Assert.Equal((56, 56), (bitmap.Width, bitmap.Height));
            Assert.InRange(canvas.Right - canvas.Left, 0, 27); // native size: at most 28 pixels wide
            Assert.InRange(canvas.Bottom - canvas.Top, 0, 27);
            // The box is exactly the extent of the non-background pixels.
            int left = 56, top = 56, right = -1, bottom = -1;
            for (int y = 0; y < 56; y++)
                for (int x = 0; x < 56; x++)
                    if (bitmap.GetPixel(x, y).Red > 0)
                        (left, top, right, bottom) = (Math.Min(left, x), Math.Min(top, y), Math.Max(right, x), Math.Max(bottom, y));
            Assert.Equal((canvas.Left, canvas.Top, canvas.Right, canvas.Bottom), (left, top, right, bottom));
        }
        Assert.Equal(canvases.Select(c => c.Png), PointingCanvases.Canvases(data.Test, count: 50, seed: 3).Select(c => c.Png));
    }
}
