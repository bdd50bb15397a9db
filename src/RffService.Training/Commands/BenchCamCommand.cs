using System.Diagnostics;
using System.Text;
using RffService.Inference;
using RffService.Inference.Explanations;
using RffService.Training.Data;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

/// <summary>Latency of each CAM method next to one classification of the same image (in process, no HTTP).</summary>
public sealed class BenchCamCommand : ICommand
{
    public string Name => "bench-cam";
    public string Summary => "benchmark: each CAM method's latency next to one classify call on the same images";
    public string Help => """
        bench-cam: for test images encoded as PNG, times ClassificationService.Classify and CamService.Explain per
        method and layer (decode, map, faithfulness and PNG rendering included), after a warm-up, and prints the
        median and 90th percentile in milliseconds. Writes the table to --out.

          --models <dir>   model repository (default: models)
          --name <name>    model (default: rff-cnn-fashion)
          --data <dir>     data cache (default: data)
          --count <n>      images (default: 30)
          --out <file>     markdown output (default: bench/results/cam-latency.md)
        """;

    public int Execute(CommandLine options)
    {
        string name = options.String("name", "rff-cnn-fashion");
        var test = ImageDataset.Load(DataPaths.FashionTest(options.String("data", DataPaths.DefaultRoot)));
        var images = Enumerable.Range(0, options.Int("count", 30)).Select(i => TestImageEncoder.Png(test, i * 7)).ToList();
        using var service = new LocalService(options.String("models", "models"));
        var (classifier, cam) = (service.Classifier, service.Cam);
        var layers = service.Ready(name).Explainer?.Layers.Select(l => l.Name).ToList() ?? throw new ArgumentException($"Model '{name}' cannot be explained.");

        var rows = new List<(string What, double Median, double P90)> { Time("classify (top-5)", images, png => classifier.Classify([png], name, 5)) };
        foreach (var layer in layers)
            foreach (var method in CamMethod.All.Keys)
            {
                try
                {
                    rows.Add(Time($"cam {method} @ {layer}", images, png => cam.Explain(png, new CamRequest(name, null, method, layer))));
                }
                catch (InferenceException ex)
                {
                    Console.WriteLine($"  {method} @ {layer}: {ex.Message}");
                }
            }

        var table = new StringBuilder()
            .AppendLine($"# CAM latency ({name}, {images.Count} Fashion-MNIST test images as PNG, {Environment.ProcessorCount} cores, in process)")
            .AppendLine()
            .AppendLine("Command: `dotnet run --project src/RffService.Training -c Release -- bench-cam`. Each explanation includes decode, the map, the faithfulness metrics (one batched run of 18 images) and rendering the two PNGs.")
            .AppendLine()
            .AppendLine("| what | median ms | p90 ms |")
            .AppendLine("|---|---|---|");
        foreach (var (what, median, p90) in rows) table.AppendLine($"| {what} | {median:F2} | {p90:F2} |");
        Console.Write(table);
        string output = options.String("out", "bench/results/cam-latency.md");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, table.ToString());
        return 0;
    }

    private static (string, double, double) Time(string what, List<byte[]> images, Action<byte[]> action)
    {
        action(images[0]); // warm-up
        var times = images.Select(png =>
        {
            var started = Stopwatch.GetTimestamp();
            action(png);
            return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }).Order().ToList();
        return (what, times[times.Count / 2], times[(int)(times.Count * 0.9)]);
    }
}
