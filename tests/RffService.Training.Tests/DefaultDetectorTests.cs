using System.Text.Json.Nodes;
using RffService.TestSupport;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;

namespace RffService.Training.Tests;

/// <summary>The committed default detector, on held-out canvases (test-split items only), through the service's code path.</summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Model quality")]
public class DefaultDetectorTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    private const string Name = "rff-ssd-fashion";

    [Fact]
    public void The_default_detector_finds_and_names_held_out_objects()
    {
        // 200 of the model card's 1,000 held-out canvases, with floors a little under its figures for the smaller sample.
        var canvases = new CanvasGenerator(data.Test, 128, CanvasSeeds.Test);

        // As served: one label per object (detection.crossClassIou), so VOC mAP no longer credits an object's second
        // label when its first is wrong (model card: mAP 0.899, class-agnostic AP 0.999, every class at least 0.77).
        var served = DetectorEvaluator.Evaluate(data.ModelsRoot, Name, canvases, 200, data.Test.Classes);
        Assert.True(served.ClassAgnosticApAt50 >= 0.98, served.ToString());
        Assert.True(served.MapAt50 >= 0.86, served.ToString());
        Assert.All(served.ApAt50PerClass, kv => Assert.True(kv.Value >= 0.60, served.ToString()));

        // The same weights with per-class suppression only (torchvision's batched NMS; model card: mAP 0.960, every
        // class at least 0.88, COCO mAP 0.840).
        string root = Directory.CreateTempSubdirectory("rff-detector-").FullName;
        try
        {
            CopyWithoutCrossClassSuppression(Path.Combine(data.ModelsRoot, Name), Path.Combine(root, Name));
            var perClass = DetectorEvaluator.Evaluate(root, Name, canvases, 200, data.Test.Classes);
            Assert.True(perClass.MapAt50 >= 0.93, perClass.ToString());
            Assert.All(perClass.ApAt50PerClass, kv => Assert.True(kv.Value >= 0.80, perClass.ToString()));
            Assert.True(perClass.CocoMap >= 0.75, perClass.ToString());
            Assert.True(perClass.MapAt50 > served.MapAt50, "the served configuration does not suppress across classes");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void CopyWithoutCrossClassSuppression(string from, string to)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        string config = Path.Combine(to, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        Assert.True(json["detection"]!.AsObject().Remove("crossClassIou"), "the default detector's config has no crossClassIou");
        File.WriteAllText(config, json.ToJsonString());
    }
}
