using RffService.Vision.Imaging;
using RffService.Vision;

namespace RffService.Training.Data;

/// <summary>
/// A data set from a folder of images, one sub-folder per class (e.g. cats/, dogs/), any size and format the service
/// reads, decoded and resized (stretch) to <c>side</c> x <c>side</c> gray with the service's own image pipeline.
/// </summary>
public static class ImageFolderDataset
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"];

    public static ImageDataset Load(string folder, int side)
    {
        var classes = Directory.GetDirectories(folder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (classes.Length < 2) throw new ArgumentException($"{folder} needs at least two class sub-folders.");
        var spec = new InputSpec(side, side, 1, [0f], [1f], Letterbox: false);
        var labels = new List<byte>();
        var pixels = new List<byte>();
        var tensor = new float[side * side];
        for (int label = 0; label < classes.Length; label++)
        {
            foreach (var file in Directory.GetFiles(Path.Combine(folder, classes[label])).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal))
            {
                try
                {
                    using var image = ImageDecoder.Decode(File.ReadAllBytes(file), 100_000_000);
                    ImagePreprocessor.WriteTensor(image, spec, tensor); // mean 0, std 1: values are pixel / 255
                }
                catch (InferenceException ex)
                {
                    Console.Error.WriteLine($"skipping {file}: {ex.Message}");
                    continue;
                }
                labels.Add((byte)label);
                pixels.AddRange(tensor.Select(v => (byte)Math.Clamp(MathF.Round(v * 255f), 0, 255)));
            }
        }
        if (labels.Count == 0) throw new ArgumentException($"No readable images under {folder}.");
        return new ImageDataset(side, side, classes, labels.ToArray(), pixels.ToArray());
    }
}
