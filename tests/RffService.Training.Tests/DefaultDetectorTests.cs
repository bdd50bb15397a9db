using RffService.TestSupport;
using RffService.Training.Commands;
using RffService.Training.Detection;

namespace RffService.Training.Tests;

/// <summary>The committed default detector, on held-out canvases (test-split items only), through the service's code path.</summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Model quality")]
public class DefaultDetectorTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    [Fact]
    public void The_default_detector_finds_and_names_held_out_objects()
    {
        // The model card reports mAP@0.5 0.654 on 1,000 canvases; 200 of them are checked here with some slack.
        var report = DetectorEvaluator.Evaluate(data.ModelsRoot, "rff-ssd-fashion",
            new CanvasGenerator(data.Test, 128, TrainDetectorCommand.TestSeed), 200, data.Test.Classes);

        Assert.True(report.MapAt50 >= 0.58, $"mAP@0.5 {report.MapAt50:F3}");
        Assert.True(report.ClassAgnosticApAt50 >= 0.70, $"class-agnostic AP@0.5 {report.ClassAgnosticApAt50:F3}");
        Assert.True(report.CocoMap >= 0.35, $"COCO mAP {report.CocoMap:F3}");
    }
}
