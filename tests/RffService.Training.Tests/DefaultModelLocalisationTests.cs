using RffService.Training.Evaluation;

namespace RffService.Training.Tests;

/// <summary>The committed default classifier, on held-out Fashion-MNIST items.</summary>
public class DefaultModelLocalisationTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    /// <summary>
    /// Run with the fully convolutional model rff-cnn-fashion-gap (global average pooling, dynamicSize): each 56x56 canvas
    /// is explained at its own size with the default blank baseline; cam on the last RFF layer (where it is exact),
    /// layercam on the first (full resolution, where its gradient varies in space).
    /// </summary>
    [Fact]
    public void Pointing_game_cam_and_layercam_peaks_fall_on_the_item_in_at_least_90_percent_of_canvases()
    {
        var canvases = PointingGame.Canvases(data.Test, count: 200, seed: 11);
        Assert.True(canvases.Count >= 195);

        double cam = PointingGame.Play(data.ModelsRoot, "rff-cnn-fashion-gap", canvases, ["cam"])["cam"];
        double layerCam = PointingGame.Play(data.ModelsRoot, "rff-cnn-fashion-gap", canvases, ["layercam"], layer: "rff1")["layercam"];

        Assert.True(cam >= 0.90, $"cam pointing-game rate {cam:P1}");
        Assert.True(layerCam >= 0.90, $"layercam pointing-game rate {layerCam:P1}");
    }

    [Fact]
    public void The_default_model_is_trained_and_classifies_held_out_items()
    {
        var sample = data.Test.Subset(Enumerable.Range(0, data.Test.Count).Where(i => i % 20 == 0).ToList()); // 500 images
        var report = ModelEvaluator.InProcess(data.ModelsRoot, "rff-cnn-fashion", sample);
        Assert.True(report.Accuracy >= 0.85, report.Format());
    }
}

public class PointingGameCanvasTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    [Fact]
    public void Canvases_hold_one_native_size_item_off_centre_with_its_tight_box()
    {
        var canvases = PointingGame.Canvases(data.Test, count: 50, seed: 3);
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
        Assert.Equal(canvases.Select(c => c.Png), PointingGame.Canvases(data.Test, count: 50, seed: 3).Select(c => c.Png));
    }
}
