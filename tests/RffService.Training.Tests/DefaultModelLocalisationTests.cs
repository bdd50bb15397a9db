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
        Assert.All(canvases, c => Assert.False(c.Left <= 28 && c.Right >= 27 && c.Top <= 28 && c.Bottom >= 27 && c.Right - c.Left < 20,
            "items are placed off-centre"));

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
