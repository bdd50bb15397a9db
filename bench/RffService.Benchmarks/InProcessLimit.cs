using System.Diagnostics;
using RffService.Vision.Imaging;

namespace RffService.Benchmarks;

/// <summary>
/// The ceiling for the service: the same pre-encoded PNGs through decode + pre-processing (two threads, as the
/// service's request threads decode in parallel) + one ONNX Runtime run per batch, in a tight loop, no HTTP, at several
/// batch sizes. Prints images per second per model and batch size, and the best.
/// </summary>
public static class InProcessLimit
{
    public static int Run(double seconds)
    {
        using var service = new LocalService(BenchData.Models);
        Measure(service, "rff-cnn-fashion", BenchData.FashionPngs(256), seconds);
        Measure(service, "rff-ssd-fashion", BenchData.CanvasPngs(256), seconds);
        return 0;
    }

    private static void Measure(LocalService service, string name, List<byte[]> images, double seconds)
    {
        var model = service.Ready(name);
        var spec = InputSpec.From(model.Config.Input);
        var outputs = model.ResultOutputs;
        double best = 0;
        foreach (int batch in new[] { 1, 8, 32, 64 })
        {
            var tensor = new float[batch * spec.TensorLength];
            int next = 0;
            long done = 0;
            void RunOnce()
            {
                int start = next;
                next = (next + batch) % images.Count;
                Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
                {
                    using var image = ImageDecoder.Decode(images[(start + i) % images.Count], 40_000_000);
                    ImagePreprocessor.WriteTensor(image, spec, tensor.AsSpan(i * spec.TensorLength, spec.TensorLength));
                });
                model.Session.Run(tensor, [batch, spec.Channels, spec.Height, spec.Width], outputs);
            }
            for (int i = 0; i < 3; i++) RunOnce(); // warm-up
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                RunOnce();
                done += batch;
            }
            double rate = done / clock.Elapsed.TotalSeconds;
            best = Math.Max(best, rate);
            Console.WriteLine($"{name} batch {batch,3}: {rate,8:F0} images/s");
        }
        Console.WriteLine($"{name} limit: {best:F0} images/s");
    }
}
