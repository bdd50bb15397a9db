using RffService.Onnx;
using RffService.Training.Data;
using RffService.Vision.Detection;

namespace RffService.Training.Detection;

/// <summary>
/// Multi-object canvases for detection, deterministic from a seed: 1 to <see cref="MaxObjects"/> Fashion-MNIST items,
/// each scaled to a side of <see cref="MinSide"/>-<see cref="MaxSide"/> pixels at a contrast of 0.7-1 and placed so that
/// it overlaps the others only partly, on one of four backgrounds (flat, sinusoidal gratings, a linear gradient or a
/// smooth random texture) with Gaussian noise. Items are composited with max(), light on dark; their pixels darker than
/// <see cref="ObjectThreshold"/> are transparent, and an item's box is the tight box of the others. The PyTorch trainer
/// (python/references/canvases.py) follows the same recipe with its own random stream.
/// </summary>
public sealed class CanvasGenerator(ImageDataset items, int size = 128, int seed = 1)
{
    public const int MaxObjects = 6;
    public const int MinSide = 24, MaxSide = 80;
    /// <summary>Largest fraction of the smaller item's square that may overlap another item's square.</summary>
    public const float MaxOverlap = 0.35f;
    public const byte ObjectThreshold = 24;

    public int Size => size;

    /// <summary>Canvas <paramref name="index"/> of the sequence (each canvas has its own generator, so any subset is reproducible).</summary>
    public Canvas Make(int index)
    {
        var random = new Random(StreamSeed(seed, index));
        var pixels = Background(random);
        var placed = new List<(int X, int Y, int Side)>();
        var objects = new List<GroundTruth>();
        int wanted = random.Next(1, MaxObjects + 1);
        int minSide = Math.Min(MinSide, size), maxSide = Math.Min(MaxSide, size);
        for (int n = 0; n < wanted; n++)
        {
            int item = random.Next(items.Count);
            int side = random.Next(minSide, maxSide + 1);
            float contrast = 0.7f + 0.3f * random.NextSingle();
            for (int attempt = 0; attempt < 30; attempt++)
            {
                int x = random.Next(0, size - side + 1), y = random.Next(0, size - side + 1);
                if (placed.Any(p => Overlap(p, (x, y, side)) > MaxOverlap)) continue;
                var scaled = Scale(items.Image(item), items.Width, side);
                var box = Composite(pixels, scaled, side, x, y, contrast);
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

    /// <summary>
    /// The seed of canvas <paramref name="index"/>'s own random stream. Not <see cref="HashCode.Combine{T1,T2}"/>: that is
    /// randomised per process, and the held-out canvases must be the same in every run.
    /// </summary>
    public static int StreamSeed(int seed, int index) => unchecked((int)((uint)seed * 2654435761u ^ (uint)index * 40503u ^ 0x55Du));

    private byte[] Background(Random random)
    {
        var values = new float[size * size];
        float level = 5 + 55 * random.NextSingle();
        switch (random.Next(4))
        {
            case 0: // flat
                Array.Fill(values, level);
                break;
            case 1: // one or two gratings
                Array.Fill(values, level);
                for (int g = random.Next(1, 3); g > 0; g--)
                {
                    float fx = random.NextSingle() - 0.5f, fy = random.NextSingle() - 0.5f;
                    float amplitude = 5 + 20 * random.NextSingle(), phase = random.NextSingle() * MathF.Tau;
                    for (int y = 0; y < size; y++)
                        for (int x = 0; x < size; x++)
                            values[y * size + x] += amplitude * MathF.Sin(fx * x + fy * y + phase);
                }
                break;
            case 2: // a linear gradient
                {
                    float angle = random.NextSingle() * MathF.Tau, rise = -50 + 100 * random.NextSingle();
                    float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                    float min = float.MaxValue, max = float.MinValue;
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] = cos * (i % size) + sin * (i / size);
                        (min, max) = (Math.Min(min, values[i]), Math.Max(max, values[i]));
                    }
                    for (int i = 0; i < values.Length; i++) values[i] = level + rise * (values[i] - min) / Math.Max(max - min, 1e-6f);
                    break;
                }
            default: // a smooth texture: a coarse random grid, upsampled bilinearly
                {
                    int cells = random.Next(3, 13);
                    var grid = Enumerable.Range(0, cells * cells).Select(_ => 2 * random.NextSingle() - 1).ToArray();
                    float amplitude = 10 + 25 * random.NextSingle();
                    var smooth = ScaleFloat(grid, cells, size);
                    for (int i = 0; i < values.Length; i++) values[i] = level + amplitude * smooth[i];
                    break;
                }
        }
        float noise = 2 + 8 * random.NextSingle();
        var pixels = new byte[size * size];
        for (int i = 0; i < pixels.Length; i++)
            pixels[i] = (byte)Math.Clamp(MathF.Round(values[i] + noise * (float)RffLayerSpec.Gaussian(random)), 0, 255);
        return pixels;
    }

    /// <summary>Bilinear resize of a square gray image to side x side, pixel centres aligned.</summary>
    public static byte[] Scale(ReadOnlySpan<byte> image, int source, int side)
    {
        var values = new float[image.Length];
        for (int i = 0; i < values.Length; i++) values[i] = image[i];
        return ScaleFloat(values, source, side).Select(v => (byte)MathF.Round(v)).ToArray();
    }

    private static float[] ScaleFloat(float[] image, int source, int side)
    {
        var result = new float[side * side];
        float ratio = (float)source / side;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                float sy = Math.Clamp((y + 0.5f) * ratio - 0.5f, 0, source - 1), sx = Math.Clamp((x + 0.5f) * ratio - 0.5f, 0, source - 1);
                int y0 = (int)sy, x0 = (int)sx, y1 = Math.Min(y0 + 1, source - 1), x1 = Math.Min(x0 + 1, source - 1);
                float fy = sy - y0, fx = sx - x0;
                float top = image[y0 * source + x0] * (1 - fx) + image[y0 * source + x1] * fx;
                float bottom = image[y1 * source + x0] * (1 - fx) + image[y1 * source + x1] * fx;
                result[y * side + x] = top * (1 - fy) + bottom * fy;
            }
        return result;
    }

    /// <summary>Draws the item (max with the background) and returns its tight box, or null if it has no visible pixel.</summary>
    private Box? Composite(byte[] canvas, byte[] item, int side, int left, int top, float contrast)
    {
        int minX = int.MaxValue, minY = int.MaxValue, maxX = -1, maxY = -1;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                byte v = item[y * side + x];
                if (v <= ObjectThreshold) continue;
                ref byte target = ref canvas[(top + y) * size + left + x];
                target = Math.Max(target, (byte)MathF.Round(v * contrast));
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
