using RffService.Training.Data;

namespace RffService.Training.Tests;

/// <summary>A generated data set: 28x28 images of a horizontal bar, a vertical bar or a filled square, with noise.</summary>
internal static class SyntheticData
{
    public static readonly string[] Classes = ["horizontal", "vertical", "square"];

    public static ImageDataset Make(int count, int seed)
    {
        var random = new Random(seed);
        var labels = new byte[count];
        var pixels = new byte[count * 28 * 28];
        for (int n = 0; n < count; n++)
        {
            int label = n % 3;
            labels[n] = (byte)label;
            int cx = random.Next(8, 20), cy = random.Next(8, 20);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    bool on = label switch
                    {
                        0 => Math.Abs(y - cy) <= 1 && Math.Abs(x - cx) <= 8,
                        1 => Math.Abs(x - cx) <= 1 && Math.Abs(y - cy) <= 8,
                        _ => Math.Abs(x - cx) <= 4 && Math.Abs(y - cy) <= 4,
                    };
                    pixels[n * 784 + y * 28 + x] = (byte)Math.Clamp((on ? 220 : 20) + random.Next(-20, 21), 0, 255);
                }
        }
        return new ImageDataset(28, 28, Classes, labels, pixels);
    }
}
