using SkiaSharp;

namespace RffService.Vision.Imaging;

/// <summary>
/// Resizes an image to the model's input (stretch or letterbox) and writes it as a normalised NCHW float tensor:
/// <c>(pixel / 255 - mean[c]) / std[c]</c>. Gray models take the BT.601 luma of RGB.
/// </summary>
public static class ImagePreprocessor
{
    private const float LumaR = 0.299f, LumaG = 0.587f, LumaB = 0.114f;

    /// <summary>Writes <paramref name="image"/> into <paramref name="destination"/> (length C*H*W) and returns the transform.</summary>
    public static ResizeTransform WriteTensor(DecodedImage image, InputSpec spec, Span<float> destination)
    {
        if (destination.Length != spec.TensorLength)
            throw new ArgumentException($"Destination has {destination.Length} values, expected {spec.TensorLength}.");
        var transform = Transform(image.Width, image.Height, spec);
        if (image.Width == spec.Width && image.Height == spec.Height)
        {
            WritePixels(image.Bitmap, spec, destination); // already the right size: exact pixels, no resampling
            return transform;
        }
        using var resized = Resize(image.Bitmap, spec, transform);
        WritePixels(resized, spec, destination);
        return transform;
    }

    public static ResizeTransform Transform(int width, int height, InputSpec spec)
    {
        if (!spec.Letterbox)
            return new ResizeTransform((float)spec.Width / width, (float)spec.Height / height, 0, 0, width, height);
        float scale = Math.Min((float)spec.Width / width, (float)spec.Height / height);
        float padX = (spec.Width - width * scale) / 2f, padY = (spec.Height - height * scale) / 2f;
        return new ResizeTransform(scale, scale, padX, padY, width, height);
    }

    private static SKBitmap Resize(SKBitmap source, InputSpec spec, ResizeTransform transform)
    {
        var target = new SKBitmap(new SKImageInfo(spec.Width, spec.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using var canvas = new SKCanvas(target);
        canvas.Clear(PadColour(spec));
        using var image = SKImage.FromBitmap(source);
        // Mipmaps average away detail when shrinking a lot (no aliasing); plain bilinear otherwise.
        bool shrinks = transform.ScaleX < 0.5f || transform.ScaleY < 0.5f;
        var sampling = new SKSamplingOptions(SKFilterMode.Linear, shrinks ? SKMipmapMode.Linear : SKMipmapMode.None);
        var dest = SKRect.Create(transform.PadX, transform.PadY, source.Width * transform.ScaleX, source.Height * transform.ScaleY);
        using var paint = new SKPaint { BlendMode = SKBlendMode.Src };
        canvas.DrawImage(image, dest, sampling, paint);
        return target;
    }

    /// <summary>Letterbox padding takes the normalisation mean, so padded pixels become 0 in the tensor.</summary>
    private static SKColor PadColour(InputSpec spec)
    {
        byte Channel(int c) => (byte)Math.Clamp(MathF.Round(spec.Mean[Math.Min(c, spec.Mean.Length - 1)] * 255f), 0, 255);
        return new SKColor(Channel(0), Channel(1), Channel(2), 255);
    }

    private static void WritePixels(SKBitmap bitmap, InputSpec spec, Span<float> destination)
    {
        ReadOnlySpan<byte> rgba = bitmap.GetPixelSpan();
        int plane = spec.Width * spec.Height;
        int rowBytes = bitmap.RowBytes;
        if (spec.Channels == 1)
        {
            float scale = 1f / (255f * spec.Std[0]), offset = spec.Mean[0] / spec.Std[0];
            for (int y = 0; y < spec.Height; y++)
                for (int x = 0; x < spec.Width; x++)
                {
                    int p = y * rowBytes + x * 4;
                    float luma = LumaR * rgba[p] + LumaG * rgba[p + 1] + LumaB * rgba[p + 2];
                    destination[y * spec.Width + x] = luma * scale - offset;
                }
            return;
        }
        for (int c = 0; c < 3; c++)
        {
            float scale = 1f / (255f * spec.Std[c]), offset = spec.Mean[c] / spec.Std[c];
            var channel = destination.Slice(c * plane, plane);
            for (int y = 0; y < spec.Height; y++)
                for (int x = 0; x < spec.Width; x++)
                    channel[y * spec.Width + x] = rgba[y * rowBytes + x * 4 + c] * scale - offset;
        }
    }
}
