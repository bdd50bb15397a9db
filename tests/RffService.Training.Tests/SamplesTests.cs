using System.Text.Json;
using RffService.TestSupport;
using RffService.Training.Commands;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;

namespace RffService.Training.Tests;

/// <summary>
/// The committed samples are what the samples command writes: held-out test items, and the detector's held-out canvases
/// with their ground truth. The canvases were written by another process, so this also checks that a canvas depends on
/// its seed and index only (not on per-process hashing).
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Data set")]
public class SamplesTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    private string Samples => Path.Combine(data.RepositoryRoot, "samples");

    [Fact]
    public void The_committed_canvases_are_the_held_out_canvases_with_their_ground_truth()
    {
        var generator = new CanvasGenerator(data.Test, 128, CanvasSeeds.Test);
        var files = Directory.GetFiles(Samples, "canvas-*.png").Order().ToList();
        Assert.NotEmpty(files);
        for (int i = 0; i < files.Count; i++)
        {
            var canvas = generator.Make(i);
            Assert.Equal(DetectorEvaluator.Png(canvas), File.ReadAllBytes(Path.Combine(Samples, $"canvas-{i}.png")));
            var truth = JsonDocument.Parse(File.ReadAllText(Path.Combine(Samples, $"canvas-{i}.json"))).RootElement.EnumerateArray().ToList();
            Assert.Equal(canvas.Objects.Select(o => data.Test.Classes[o.Label]), truth.Select(t => t.GetProperty("label").GetString()));
        }
    }

    [Fact]
    public void Each_single_item_sample_is_the_first_test_image_of_its_class()
    {
        foreach (var label in data.Test.Classes)
        {
            string path = Path.Combine(Samples, SamplesCommand.FileName(label));
            if (!File.Exists(path)) continue;
            int index = Array.IndexOf(data.Test.Labels, (byte)Array.IndexOf(data.Test.Classes.ToArray(), label));
            Assert.Equal(TestImageEncoder.Png(data.Test, index), File.ReadAllBytes(path));
        }
        Assert.True(File.Exists(Path.Combine(Samples, "shirt.png")));
    }
}
