using System.Diagnostics;
using RffService.Inference.Detection;
using RffService.Inference.Models;

namespace RffService.Benchmarks;

/// <summary>
/// The ceiling for the service: its own inference core in process (decode, pre-processing, the model's queue and
/// dynamic batching, ONNX Runtime on every core, post-processing), driven by many concurrent callers of one image each,
/// as HTTP requests arrive, but with no HTTP. Prints images per second per model and number of callers, the best
/// (the limit), each model's floating-point work per image, and the share of the machine's peak the limit reaches.
/// </summary>
public static class InProcessLimit
{
    public static int Run(double seconds)
    {
        double peak = MachinePeak.OrtMatMulGflops();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; peak {peak:F1} GFLOP/s (ONNX Runtime's dense 1024x1024 MatMul on every core)");
        using var service = new LocalService(BenchData.Models);
        var fashion = BenchData.FashionPngs(256);
        Measure(service, "rff-cnn-fashion", fashion, detect: false, seconds, peak);
        Measure(service, "rff-cnn-fashion-gap", fashion, detect: false, seconds, peak);
        Measure(service, "rff-ssd-fashion", BenchData.CanvasPngs(256), detect: true, seconds, peak);
        return 0;
    }

    private static void Measure(LocalService service, string name, List<byte[]> images, bool detect, double seconds, double peak)
    {
        var model = service.Ready(name);
        var entry = service.Repository.Find(name)!;
        var input = model.Config.Input;
        var work = FlopCount.PerImage(ModelFolder.ModelPath(entry, entry.Version!.Value), model.Session.InputName,
            [1, input.Channels, input.Height, input.Width]);

        Task Call(byte[] png) => detect
            ? service.Detector.DetectAsync([png], name, new DetectionRequest())
            : service.Classifier.ClassifyAsync([png], name, topK: 1);

        double best = 0;
        int cores = Environment.ProcessorCount;
        foreach (int callers in new[] { 1, cores, 4 * cores, 16 * cores, 64 })
        {
            for (int i = 0; i < 2 * callers; i++) Call(images[i % images.Count]).GetAwaiter().GetResult(); // warm-up
            long done = 0;
            var clock = Stopwatch.StartNew();
            Task.WaitAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
            {
                for (int i = c; clock.Elapsed.TotalSeconds < seconds; i += callers)
                {
                    await Call(images[i % images.Count]);
                    Interlocked.Increment(ref done);
                }
            })).ToArray());
            double rate = done / clock.Elapsed.TotalSeconds;
            best = Math.Max(best, rate);
            Console.WriteLine($"{name} callers {callers,3}: {rate,8:F0} images/s");
        }
        Console.WriteLine($"{name} limit: {best:F0} images/s");
        double gflops = best * work.Total / 1e9;
        Console.WriteLine($"{name} work: {work.Total / 1e6:F2} MFLOP/image ({work.MultiplyAdds / 1e6:F2} in multiply-adds); at the limit " +
                          $"{gflops:F2} GFLOP/s = {gflops / peak:P1} of the peak");
    }
}
