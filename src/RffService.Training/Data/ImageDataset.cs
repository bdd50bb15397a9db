namespace RffService.Training.Data;

/// <summary>
/// Gray images of one size with integer labels, held as bytes (0..255), row-major, one image after another.
/// Stored on disk as a small binary cache: "RFFDS1", count, height, width, class count, class names, labels, pixels.
/// </summary>
public sealed class ImageDataset(int height, int width, IReadOnlyList<string> classes, byte[] labels, byte[] pixels)
{
    private static readonly byte[] Magic = "RFFDS1"u8.ToArray();

    public int Height { get; } = height;
    public int Width { get; } = width;
    public IReadOnlyList<string> Classes { get; } = classes;
    public byte[] Labels { get; } = labels;
    public byte[] Pixels { get; } = pixels;
    public int Count => Labels.Length;
    public int ImageSize => Height * Width;

    public ReadOnlySpan<byte> Image(int index) => Pixels.AsSpan(index * ImageSize, ImageSize);

    /// <summary>A dataset of the chosen images, in the given order.</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices)
    {
        var labels = new byte[indices.Count];
        var pixels = new byte[indices.Count * ImageSize];
        for (int i = 0; i < indices.Count; i++)
        {
            labels[i] = Labels[indices[i]];
            Image(indices[i]).CopyTo(pixels.AsSpan(i * ImageSize, ImageSize));
        }
        return new ImageDataset(Height, Width, Classes, labels, pixels);
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write(Magic);
        writer.Write(Count);
        writer.Write(Height);
        writer.Write(Width);
        writer.Write(Classes.Count);
        foreach (var name in Classes) writer.Write(name);
        writer.Write(Labels);
        writer.Write(Pixels);
    }

    public static ImageDataset Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Data set {path} not found; run 'fetch-data' first.", path);
        using var reader = new BinaryReader(File.OpenRead(path));
        if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException($"{path} is not an RffService data set file.");
        int count = reader.ReadInt32(), height = reader.ReadInt32(), width = reader.ReadInt32(), classCount = reader.ReadInt32();
        var classes = Enumerable.Range(0, classCount).Select(_ => reader.ReadString()).ToArray();
        var labels = reader.ReadBytes(count);
        var pixels = reader.ReadBytes(count * height * width);
        if (pixels.Length != count * height * width) throw new InvalidDataException($"{path} is truncated.");
        return new ImageDataset(height, width, classes, labels, pixels);
    }
}
