using RffService.Inference.Models;

namespace RffService.Inference.Imaging;

/// <summary>The tensor a model wants: size, channels, normalisation and resize mode.</summary>
public sealed record InputSpec(int Width, int Height, int Channels, float[] Mean, float[] Std, bool Letterbox)
{
    public int TensorLength => Channels * Width * Height;

    public static InputSpec From(InputConfig config) =>
        new(config.Width, config.Height, config.Channels, config.Mean.ToArray(), config.Std.ToArray(), config.Resize == "letterbox");
}
