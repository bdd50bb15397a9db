using System.Diagnostics;
using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Onnx.Explanations;
using RffService.Onnx.Runtime;

using RffService.TestSupport;

namespace RffService.Benchmarks.Explanations;

/// <summary>
/// The gradient self-check over many seeds, on every model of a repository: how many correct layers it refuses (it
/// should refuse none) and, with each layer's gradient made 5% too large in turn, how many wrong ones it lets through
/// (it should let none through); and how long a check takes.
/// </summary>
public static class SelfCheckSweep
{
    public static int Run(string modelsRoot, int seeds, int tamperedLayers)
    {
        using var service = new LocalService(modelsRoot);
        var sessions = new SessionFactory(SessionSettings.Cpu);
        Console.WriteLine("| model | layers | seeds | refused (correct gradient) | caught (5% too large) | check s (median) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var entry in service.Repository.Models.Where(m => m.Runtime?.Explanations.Explainer is not null))
        {
            var runtime = entry.Runtime!;
            // The form the service explains: the batch axis made symbolic, the input a float32 NCHW tensor.
            var file = ModelLoader.Parse(File.ReadAllBytes(ModelFolder.ModelPath(entry, entry.Version!.Value)));
            var proto = ModelEditor.WithFloatNchwInput(FixedBatch.Relax(file, sessions) ?? file, runtime.Session.InputName, runtime.Session.ChannelsLast);
            var input = runtime.Config.Input;
            var candidates = Explainer.Discover(proto, runtime.Session.InputName, [1, input.Channels, input.Height, input.Width],
                runtime.Explanations.Explainer!.ScoreOutput, runtime.RffLayers.GroupBy(l => l.Name).ToDictionary(g => g.Key, g => g.First().Output), sessions);
            int layers = candidates.Layers.Count(l => l.Usable), refused = 0, tampered = 0, caught = 0;
            var times = new List<double>();
            for (int seed = 1; seed <= seeds; seed++)
            {
                var started = Stopwatch.GetTimestamp();
                using (var honest = Explainer.Check(candidates, sessions, seed: seed))
                    foreach (var layer in honest.Layers.Where(l => l.Usable != candidates.Layers.Single(c => c.Tensor == l.Tensor).Usable))
                    {
                        refused++;
                        Console.Error.WriteLine($"{entry.Name} seed {seed}: {layer.Name} refused: {layer.Refusal}");
                    }
                times.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
                // Tamper with a few layers per seed, spread over the model.
                var usable = candidates.Layers.Where(l => l.Usable).ToList();
                for (int k = 0; k < Math.Min(tamperedLayers, usable.Count); k++)
                {
                    var layer = usable[(seed * 7 + k * usable.Count / tamperedLayers) % usable.Count];
                    using var wrong = Explainer.Check(candidates, sessions, null, seed, g => GradientTampering.Scale(g, ExplanationGraph.GradientOutput(layer.Tensor), 1.05f), default);
                    tampered++;
                    if (!wrong.Layers.Single(l => l.Tensor == layer.Tensor).Usable) caught++;
                }
            }
            times.Sort();
            Console.WriteLine($"| {entry.Name} | {layers} | {seeds} | {refused} of {layers * seeds} | {caught} of {tampered} | {times[times.Count / 2]:F2} |");
        }
        return 0;
    }
}
