using System.Diagnostics;
using System.Text;
using RffService.TestSupport;
using RffService.Vision;
using RffService.Vision.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace RffService.Benchmarks.Imaging;

/// <summary>
/// SkiaSharp (the service's decoder) against SixLabors.ImageSharp 2.1.13 on the same inputs: decode speed on the
/// formats the service reads, and behaviour on hostile input (the corpus and mutated files of the API's hostile-input
/// tests): how many decode, how many are refused cleanly, how many fail in an unexpected way or take too long.
/// Both decoders check the declared size from the header before decoding pixels, as the service does.
/// </summary>
public static class DecoderComparison
{
    private const long MaxPixels = 40_000_000;

    private interface IDecoder
    {
        string Name { get; }
        /// <summary>Decodes to upright 8-bit RGBA; throws <see cref="InferenceException"/> for input it refuses.</summary>
        void Decode(byte[] bytes);
    }

    private sealed class Skia : IDecoder
    {
        public string Name => "SkiaSharp 3.119.4";
        public void Decode(byte[] bytes)
        {
            using var image = ImageDecoder.Decode(bytes, MaxPixels);
        }
    }

    private sealed class ImageSharp : IDecoder
    {
        public string Name => "ImageSharp 2.1.13";
        public void Decode(byte[] bytes)
        {
            if (bytes.Length == 0) throw new InferenceException(ErrorKind.BadInput, "Empty image", "0 bytes");
            IImageInfo? info;
            try
            {
                info = Image.Identify(bytes);
            }
            catch (Exception ex) when (ex is SixLabors.ImageSharp.ImageFormatException or SixLabors.ImageSharp.UnknownImageFormatException or InvalidImageContentException)
            {
                throw new InferenceException(ErrorKind.BadInput, "Undecodable image", ex.Message);
            }
            if (info is null) throw new InferenceException(ErrorKind.BadInput, "Undecodable image", "unknown format");
            if ((long)info.Width * info.Height > MaxPixels) throw new InferenceException(ErrorKind.TooLarge, "Image too large", "over the pixel limit");
            try
            {
                using var image = Image.Load<Rgba32>(bytes);
                image.Mutate(x => x.AutoOrient());
            }
            catch (Exception ex) when (ex is SixLabors.ImageSharp.ImageFormatException or SixLabors.ImageSharp.UnknownImageFormatException or InvalidImageContentException)
            {
                throw new InferenceException(ErrorKind.BadInput, "Undecodable image", ex.Message);
            }
        }
    }

    public static int Run(int mutations, string output)
    {
        IDecoder[] decoders = [new Skia(), new ImageSharp()];
        var report = new StringBuilder()
            .AppendLine($"# Image decoders: SkiaSharp against ImageSharp ({Environment.ProcessorCount} cores, .NET {Environment.Version})")
            .AppendLine()
            .AppendLine("Command: `dotnet run --project bench/RffService.Benchmarks -c Release -- decoders`. Decode = header check + pixels to upright RGBA.")
            .AppendLine()
            .AppendLine("## Speed (median microseconds per decode)")
            .AppendLine()
            .AppendLine("| image | " + string.Join(" | ", decoders.Select(d => d.Name)) + " | ratio |")
            .AppendLine("|---|---|---|---|");
        (string, byte[])[] samples =
        [
            ("PNG 28x28 gray", TestImages.Png(28, 28, gray: true)),
            ("PNG 128x128", TestImages.Png(128, 128)),
            ("JPEG 640x480", TestImages.Jpeg(640, 480)),
            ("WebP 256x256", TestImages.Webp(256, 256)),
            ("BMP 64x48", TestImages.Bmp(64, 48)),
            ("GIF 1x1", TestImages.Gif()),
        ];
        foreach (var (what, bytes) in samples)
        {
            var times = decoders.Select(d => Median(d, bytes)).ToArray();
            report.AppendLine($"| {what} | {times[0]:F1} | {times[1]:F1} | ImageSharp / Skia = {times[1] / times[0]:F2} |");
            Console.WriteLine($"{what}: {string.Join(", ", decoders.Select((d, i) => $"{d.Name} {times[i]:F1} us"))}");
        }

        report.AppendLine().AppendLine($"## Hostile input ({HostileImages.Corpus().Count()} known-bad files and {mutations} mutated files, the same for both)").AppendLine()
            .AppendLine("| decoder | decoded | refused cleanly | unexpected exception | over 1 s | slowest ms | managed memory growth MB |")
            .AppendLine("|---|---|---|---|---|---|---|");
        var inputs = HostileImages.Corpus().Select(c => c.Bytes).ToList();
        var random = new Random(7);
        var seeds = HostileImages.Seeds();
        for (int i = 0; i < mutations; i++) inputs.Add(HostileImages.Mutate(seeds[i % seeds.Length], seeds, random));
        foreach (var decoder in decoders)
        {
            int decoded = 0, refused = 0, slow = 0;
            var unexpected = new Dictionary<string, int>();
            double slowest = 0;
            GC.Collect();
            long before = GC.GetTotalMemory(true);
            foreach (var bytes in inputs)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    decoder.Decode(bytes);
                    decoded++;
                }
                catch (InferenceException)
                {
                    refused++;
                }
                catch (Exception ex)
                {
                    unexpected[ex.GetType().Name] = unexpected.GetValueOrDefault(ex.GetType().Name) + 1;
                }
                double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                slowest = Math.Max(slowest, ms);
                if (ms > 1000) slow++;
            }
            long growth = GC.GetTotalMemory(true) - before;
            string others = unexpected.Count == 0 ? "0" : $"{unexpected.Values.Sum()} ({string.Join(", ", unexpected.Select(kv => $"{kv.Key} {kv.Value}"))})";
            report.AppendLine($"| {decoder.Name} | {decoded} | {refused} | {others} | {slow} | {slowest:F0} | {growth / 1e6:F1} |");
            Console.WriteLine($"{decoder.Name}: decoded {decoded}, refused {refused}, unexpected {others}, slow {slow}, slowest {slowest:F0} ms");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, report.ToString());
        return 0;
    }

    private static double Median(IDecoder decoder, byte[] bytes)
    {
        for (int i = 0; i < 20; i++) decoder.Decode(bytes); // warm-up
        var samples = new List<double>();
        for (int round = 0; round < 15; round++)
        {
            int n = 0;
            var started = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(started).TotalMilliseconds < 40) { decoder.Decode(bytes); n++; }
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds / n);
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }
}
