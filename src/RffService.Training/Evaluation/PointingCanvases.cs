using RffService.Training.Data;
using SkiaSharp;

namespace RffService.Training.Evaluation;

/// <summary>One generated canvas: a PNG and the tight box (inclusive pixel bounds) of the item on it.</summary>
public sealed record PointingCanvas(byte[] Png, int Label, int Left, int Top, int Right, int Bottom);

/// <summary>
/// The pointing game's canvases: 56x56, each holding one held-out Fashion-MNIST item at its native 28x28 size, placed
/// off-centre on a black background, with the item's tight box. An explanation "points" when its peak falls in the box.
/// </summary>
public static class PointingCanvases
{
    public const int Side = 56;

    /// <summary>Deterministic canvases from the test set: item i of a seeded shuffle, at a random position whose centre is off the canvas centre.</summary>
    public static List<PointingCanvas> Canvases(ImageDataset test, int count, int seed)
    {
        var random = new Random(seed);
        var order = Enumerable.Range(0, test.Count).ToArray();
        random.Shuffle(order);
        var canvases = new List<PointingCanvas>();
        foreach (int index in order.Take(count))
        {
            int x, y;
            do { (x, y) = (random.Next(0, Side - 28 + 1), random.Next(0, Side - 28 + 1)); }
            while (Math.Abs(x - 14) < 6 && Math.Abs(y - 14) < 6); // keep the item off-centre
            using var bitmap = new SKBitmap(new SKImageInfo(Side, Side, SKColorType.Gray8, SKAlphaType.Opaque));
            var pixels = bitmap.GetPixelSpan();
            pixels.Clear();
            var item = test.Image(index);
            int left = int.MaxValue, top = int.MaxValue, right = -1, bottom = -1;
            for (int r = 0; r < 28; r++)
                for (int c = 0; c < 28; c++)
                {
                    byte v = item[r * 28 + c];
                    pixels[(y + r) * Side + x + c] = v;
                    if (v == 0) continue;
                    (left, top, right, bottom) = (Math.Min(left, x + c), Math.Min(top, y + r), Math.Max(right, x + c), Math.Max(bottom, y + r));
                }
            if (right < 0) continue; // an empty item has no box
            using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            canvases.Add(new PointingCanvas(encoded.ToArray(), test.Labels[index], left, top, right, bottom));
        }
        return canvases;
    }
}
