using System.Text.Json;
using RffService.Training.Data;
using RffService.Training.Detection;

namespace RffService.Training.Commands;

/// <summary>Writes a few held-out detection canvases as PNG (with their ground truth) to try /detect and the demo page.</summary>
public sealed class SampleCanvasesCommand : ICommand
{
    public string Name => "sample-canvases";
    public string Summary => "write held-out multi-object canvases as PNG (and ground truth JSON) to try /detect";
    public string Help => """
        sample-canvases: writes test canvases (test-split items only, the evaluation's seed) as <out>/canvas-<i>.png,
        and <out>/canvas-<i>.json with each object's label and box (x_min, y_min, x_max, y_max, pixels).

          --data <dir>    data cache (default: data)
          --out <dir>     output folder (default: samples)
          --count <n>     how many (default: 4)
        """;

    public int Execute(CommandLine options)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(options.String("data", DataPaths.DefaultRoot)));
        string output = options.String("out", "samples");
        Directory.CreateDirectory(output);
        var generator = new CanvasGenerator(test, 128, TrainDetectorCommand.TestSeed);
        for (int i = 0; i < options.Int("count", 4); i++)
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
