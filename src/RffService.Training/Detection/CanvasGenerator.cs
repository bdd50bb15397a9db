using RffService.Onnx;
using RffService.Training.Data;
using RffService.Vision.Detection;

namespace RffService.Training.Detection;

/// <summary>
/// Multi-object canvases for detection, deterministic from a seed: 1 to <see cref="MaxObjects"/> Fashion-MNIST items,
/// each scaled to a side of 0.15-0.6 of the canvas and placed where it overlaps the others little, on a background of
/// random brightness, two sinusoidal gratings (texture) and Gaussian noise. Items are composited with max(), as light
/// on a dark ground; an item's box is the tight box of its pixels brighter than <see cref="ObjectThreshold"/>.
/// </summary>
public sealed class CanvasGenerator(ImageDataset items, int size = 128, int seed = 1)
{
    public const int MaxObjects = 6;
    public const float MinSide = 0.15f, MaxSide = 0.6f;
    /// <summary>Largest fraction of either item's square that may overlap another item's square.</summary>
    public const float MaxOverlap = 0.2f;
    public const byte ObjectThreshold = 24;

    public int Size => size;

    /// <summary>Canvas <paramref name="index"/> of the sequence (each canvas has its own generator, so any subset is reproducible).</summary>
    public Canvas Make(int index)
    {
        var random = new Random(HashCode.Combine(seed, index, 0x55D));
        var pixels = Background(random);
        var placed = new List<(int X, int Y, int Side)>();
        var objects = new List<GroundTruth>();
        int wanted = random.Next(1, MaxObjects + 1);
        for (int n = 0; n < wanted; n++)
        {
            int item = random.Next(items.Count);
            int side = (int)MathF.Round(size * (MinSide + (MaxSide - MinSide) * random.NextSingle()));
            for (int attempt = 0; attempt < 30; attempt++)
            {
                int x = random.Next(0, size - side + 1), y = random.Next(0, size - side + 1);
                if (placed.Any(p => Overlap(p, (x, y, side)) > MaxOverlap)) continue;
                var scaled = Scale(items.Image(item), items.Width, side);
                var box = Composite(pixels, scaled, side, x, y);
                if (box is { } tight)
                {
                    placed.Add((x, y, side));
                    objects.Add(new GroundTruth(items.Labels[item], tight));
                }
                break;
            }
        }
        return new Canvas(size, pixels, objects);
    }

    private byte[] Background(Random random)
    {
        var pixels = new byte[size * size];
        float level = 10 + 50 * random.NextSingle();
        var gratings = Enumerable.Range(0, 2).Select(_ => (
            Fx: (random.NextSingle() - 0.5f) * 0.5f, Fy: (random.NextSingle() - 0.5f) * 0.5f,
            Phase: random.NextSingle() * MathF.Tau, Amplitude: 15 * random.NextSingle())).ToArray();
        float noise = 3 + 7 * random.NextSingle();
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                float v = level + noise * (float)RffLayerSpec.Gaussian(random);
                foreach (var g in gratings) v += g.Amplitude * MathF.Sin(g.Fx * x + g.Fy * y + g.Phase);
                pixels[y * size + x] = (byte)Math.Clamp(MathF.Round(v), 0, 255);
            }
        return pixels;
    }

    /// <summary>Bilinear resize of a square gray image to side x side.</summary>
    public static byte[] Scale(ReadOnlySpan<byte> image, int source, int side)
    {
        var result = new byte[side * side];
        float ratio = (float)source / side;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                float sy = Math.Clamp((y + 0.5f) * ratio - 0.5f, 0, source - 1), sx = Math.Clamp((x + 0.5f) * ratio - 0.5f, 0, source - 1);
                int y0 = (int)sy, x0 = (int)sx, y1 = Math.Min(y0 + 1, source - 1), x1 = Math.Min(x0 + 1, source - 1);
                float fy = sy - y0, fx = sx - x0;
                float top = image[y0 * source + x0] * (1 - fx) + image[y0 * source + x1] * fx;
                float bottom = image[y1 * source + x0] * (1 - fx) + image[y1 * source + x1] * fx;
                result[y * side + x] = (byte)MathF.Round(top * (1 - fy) + bottom * fy);
            }
        return result;
    }

    /// <summary>Draws the item (max with the background) and returns its tight box, or null if it has no visible pixel.</summary>
    private Box? Composite(byte[] canvas, byte[] item, int side, int left, int top)
    {
        int minX = int.MaxValue, minY = int.MaxValue, maxX = -1, maxY = -1;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                byte v = item[y * side + x];
                if (v <= ObjectThreshold) continue;
                ref byte target = ref canvas[(top + y) * size + left + x];
                target = Math.Max(target, v);
                (minX, minY, maxX, maxY) = (Math.Min(minX, x), Math.Min(minY, y), Math.Max(maxX, x), Math.Max(maxY, y));
            }
        return maxX < 0 ? null : new Box(left + minX, top + minY, left + maxX + 1, top + maxY + 1);
    }

    private static float Overlap((int X, int Y, int Side) a, (int X, int Y, int Side) b)
    {
        int w = Math.Min(a.X + a.Side, b.X + b.Side) - Math.Max(a.X, b.X);
        int h = Math.Min(a.Y + a.Side, b.Y + b.Side) - Math.Max(a.Y, b.Y);
        if (w <= 0 || h <= 0) return 0;
        return (float)w * h / Math.Min(a.Side * a.Side, b.Side * b.Side);
    }
}
