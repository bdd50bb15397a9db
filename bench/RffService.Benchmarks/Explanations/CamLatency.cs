using System.Diagnostics;
using System.Text;
using RffService.Inference.Explanations;
using RffService.Training.Data;
using RffService.Training.Evaluation;
using RffService.Vision;

namespace RffService.Benchmarks.Explanations;

/// <summary>
/// Latency of each CAM method next to one classification of the same image, in process (no HTTP): for test images
/// encoded as PNG, times classification and each method on each CAM layer (decode, map and PNG rendering included,
/// faithfulness off), after a warm-up, and reports the median and 90th percentile in milliseconds.
/// </summary>
public static class CamLatency
{
    public static int Run(string modelsRoot, string name, string dataRoot, int count, string output)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
        var images = Enumerable.Range(0, count).Select(i => TestImageEncoder.Png(test, i * 7)).ToList();
        using var service = new LocalService(modelsRoot);
        var layers = service.Ready(name).Explainer?.Layers.Select(l => l.Name).ToList() ?? throw new ArgumentException($"Model '{name}' cannot be explained.");

        var rows = new List<(string What, double Median, double P90)>
        {
            Time("classify (top-5)", images, png => service.Classifier.ClassifyAsync([png], name, 5).GetAwaiter().GetResult()),
        };
        foreach (var layer in layers)
            foreach (var method in CamMethod.All.Keys)
            {
                try
                {
                    rows.Add(Time($"{method} @ {layer}", images, png =>
                        service.Cam.ExplainAsync(png, new CamRequest(name, null, method, layer, MeasureFaithfulness: false)).GetAwaiter().GetResult()));
                }
                catch (InferenceException ex)
                {
                    Console.WriteLine($"  {method} @ {layer}: {ex.Message}");
                }
            }

        double classify = rows[0].Median;
        var table = new StringBuilder()
            .AppendLine($"# CAM latency ({name}, {images.Count} Fashion-MNIST test images as PNG, {Environment.ProcessorCount} cores, in process)")
            .AppendLine()
            .AppendLine("Command: `dotnet run --project bench/RffService.Benchmarks -c Release -- cam-latency`. Each explanation includes decode, " +
                        "the map and rendering the two PNGs (faithfulness off).")
            .AppendLine()
            .AppendLine("| what | median ms | p90 ms | median / classify |")
            .AppendLine("|---|---|---|---|");
        foreach (var (what, median, p90) in rows) table.AppendLine($"| {what} | {median:F2} | {p90:F2} | {median / classify:F1}x |");
        Console.Write(table);
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
