using System.CommandLine;
using System.Text.Json;
using RffService.Training.Data;
using RffService.Training.Detection;

namespace RffService.Training.Commands;

/// <summary>Writes a few held-out detection canvases as PNG (with their ground truth) to try /detect and the demo page.</summary>
public static class SampleCanvasesCommand
{
    public static Command Create()
    {
        var command = new Command("sample-canvases",
            "Writes held-out detection canvases (test-split items only, the evaluation's seed) as <out>/canvas-<i>.png, and " +
            "<out>/canvas-<i>.json with each object's label and box (x_min, y_min, x_max, y_max, pixels), to try /detect.");
        var data = Opt.Data();
        var output = Opt.Of("--out", "samples", "output folder");
        var count = Opt.Of("--count", 4, "how many");
        foreach (var option in new Option[] { data, output, count }) command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(data)!, parse.GetValue(output)!, parse.GetValue(count)));
        return command;
    }

    private static int Run(string dataRoot, string output, int count)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
        Directory.CreateDirectory(output);
        var generator = new CanvasGenerator(test, 128, TrainDetectorCommand.TestSeed);
        for (int i = 0; i < count; i++)
        {
            var canvas = generator.Make(i);
            File.WriteAllBytes(Path.Combine(output, $"canvas-{i}.png"), DetectorEvaluator.Png(canvas));
            var truth = canvas.Objects.Select(o => new { label = test.Classes[o.Label], box = new[] { o.Box.XMin, o.Box.YMin, o.Box.XMax, o.Box.YMax } });
            File.WriteAllText(Path.Combine(output, $"canvas-{i}.json"), JsonSerializer.Serialize(truth) + "\n");
            Console.WriteLine($"{Path.Combine(output, $"canvas-{i}.png")}: {string.Join(", ", canvas.Objects.Select(o => test.Classes[o.Label]))}");
        }
        return 0;
    }
}
