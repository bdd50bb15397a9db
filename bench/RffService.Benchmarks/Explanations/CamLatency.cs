using System.Diagnostics;
using System.Text;
using RffService.Inference.Explanations;
using RffService.Training.Data;
using RffService.Training.Evaluation;
using RffService.Vision;

namespace RffService.Benchmarks.Explanations;

/// <summary>
/// Latency of each CAM method next to one classification of the same image, in process (no HTTP): for test images
/// encoded as PNG, times each method on each CAM layer (decode, map and PNG rendering included, faithfulness off) right
/// after classifications of the same images, so every ratio compares measurements taken side by side (a busy or
/// throttled machine slows both). Reports medians and 90th percentiles in milliseconds, and where an
/// explanation's time went by the service's own timings.
/// </summary>
public static class CamLatency
{
    private const int WarmUpRounds = 2, WarmUpCalls = 20;

    private sealed record Row(string What, Stats Explanation, Stats Classification, CamTimings Parts);

    private sealed record Stats(double Median, double P90)
    {
        public static Stats Of(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return new Stats(sorted[sorted.Count / 2], sorted[(int)(sorted.Count * 0.9)]);
        }
    }

    public static int Run(string modelsRoot, string name, string dataRoot, int count, string output)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
        var images = Enumerable.Range(0, count).Select(i => TestImageEncoder.Png(test, i * 7)).ToList();
        using var service = new LocalService(modelsRoot);
        var layers = service.Ready(name).Explanations.Explainer?.Layers.Select(l => l.Name).ToList() ?? throw new ArgumentException($"Model '{name}' cannot be explained.");
        void Classify(byte[] png) => service.Classifier.ClassifyAsync([png], name, 5).GetAwaiter().GetResult();

        var cases = new List<(string What, Func<byte[], CamTimings> Explain)>();
        foreach (var layer in layers)
            foreach (var method in CamMethod.All.Keys)
            {
                CamTimings Explain(byte[] png) =>
                    service.Cam.ExplainAsync(png, new CamRequest(name, null, CamMethod.All[method], layer, MeasureFaithfulness: false)).GetAwaiter().GetResult().Timings;
                try
                {
                    Explain(images[0]);
                    cases.Add(($"{method} @ {layer}", Explain));
                }
                catch (InferenceException ex)
                {
                    Console.WriteLine($"  {method} @ {layer}: {ex.Message}");
                }
            }
        // Warm-up: every case, so that no row pays for code another row compiles first, with enough calls for the
        // runtime to compile the hot paths fully (tiered compilation promotes a method after 30 calls, once new
        // compilations have settled): the figures are a running service's steady state.
        for (int round = 0; round < WarmUpRounds; round++)
            foreach (var (_, explain) in cases)
                for (int i = 0; i < WarmUpCalls; i++)
                {
                    Classify(images[i % images.Count]);
                    explain(images[i % images.Count]);
                }
        var rows = cases.Select(c => Measure(c.What, images, Classify, c.Explain)).ToList();

        var classify = Stats.Of(rows.Select(r => r.Classification.Median));
        var table = new StringBuilder()
            .AppendLine($"# CAM latency ({name}, {images.Count} Fashion-MNIST test images as PNG, {Environment.ProcessorCount} cores, in process)")
            .AppendLine()
            .AppendLine($"Command: `dotnet run --project bench/RffService.Benchmarks -c Release -- cam-latency --count {count}`. Each explanation " +
                        "includes decode, the map and rendering the two PNGs (faithfulness off). Each row times the images' classifications (top-5) " +
                        "first, then their explanations, and the ratio divides the explanation's median by those classifications' median. The last three columns " +
                        "split the explanation's median by the service's own timings: decoding and preparing the image (plus, for detections, " +
                        "the detector's run), the map (explanation graph, blank reference, method) and rendering.")
            .AppendLine()
            .AppendLine($"Classification (top-5), median of the rows' medians: {classify.Median:F2} ms.")
            .AppendLine()
            .AppendLine("| what | median ms | p90 ms | classify median ms | median / classify | image | map | render |")
            .AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            var p = row.Parts;
            table.AppendLine($"| {row.What} | {row.Explanation.Median:F2} | {row.Explanation.P90:F2} | {row.Classification.Median:F2} | " +
                             $"{row.Explanation.Median / row.Classification.Median:F1}x | {p.TotalMs - p.CamMs - p.RenderMs:F2} | {p.CamMs:F2} | {p.RenderMs:F2} |");
        }
        Console.Write(table);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, table.ToString());
        return 0;
    }

    private static Row Measure(string what, List<byte[]> images, Action<byte[]> classify, Func<byte[], CamTimings> explain)
    {
        var classifications = images.Select(png =>
        {
            long started = Stopwatch.GetTimestamp();
            classify(png);
            return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }).ToList();
        var explanations = images.Select(png =>
        {
            long started = Stopwatch.GetTimestamp();
            var parts = explain(png);
            return (Ms: Stopwatch.GetElapsedTime(started).TotalMilliseconds, Parts: parts);
        }).ToList();
        double Median(Func<CamTimings, double> part) => explanations.Select(e => part(e.Parts)).Order().ElementAt(explanations.Count / 2);
        var medianParts = new CamTimings(Median(p => p.DecodeMs), Median(p => p.CamMs), 0, Median(p => p.RenderMs), Median(p => p.TotalMs));
        return new Row(what, Stats.Of(explanations.Select(e => e.Ms)), Stats.Of(classifications), medianParts);
    }
}
