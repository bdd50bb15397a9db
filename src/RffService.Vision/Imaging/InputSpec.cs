using RffService.Vision.Configuration;

namespace RffService.Vision.Imaging;

/// <summary>The tensor a model wants for one image: size, channels, normalisation and resize mode.</summary>
public sealed record InputSpec(int Width, int Height, int Channels, float[] Mean, float[] Std, bool Letterbox)
{
    public int TensorLength => Channels * Width * Height;

    /// <summary>The configured input; one mean or std value stands for every channel.</summary>
    public static InputSpec From(InputConfig config) =>
        new(config.Width, config.Height, config.Channels, PerChannel(config.Mean, config.Channels), PerChannel(config.Std, config.Channels), config.Resize == "letterbox");

    private static float[] PerChannel(IReadOnlyList<float> values, int channels) =>
        values.Count == 1 ? Enumerable.Repeat(values[0], channels).ToArray() : values.ToArray();

    /// <summary>
    /// The input for an image of the given size: the configured size, or for a dynamic-size model the image's own size,
    /// scaled down (aspect ratio kept) when it exceeds the model's maximum.
    /// </summary>
    public static InputSpec For(InputConfig config, int imageWidth, int imageHeight)
    {
        var spec = From(config);
        if (!config.DynamicSize) return spec;
        int maxWidth = config.MaxWidth ?? 4 * config.Width, maxHeight = config.MaxHeight ?? 4 * config.Height;
        double scale = Math.Min(1.0, Math.Min((double)maxWidth / imageWidth, (double)maxHeight / imageHeight));
        return spec with
        {
            Width = Math.Max(1, (int)Math.Round(imageWidth * scale)),
            Height = Math.Max(1, (int)Math.Round(imageHeight * scale)),
            Letterbox = false,
        };
    }
}
