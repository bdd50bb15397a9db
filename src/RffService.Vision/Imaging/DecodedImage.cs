using SkiaSharp;

namespace RffService.Vision.Imaging;

/// <summary>A decoded, upright image in 8-bit RGBA (unpremultiplied).</summary>
public sealed class DecodedImage(SKBitmap bitmap, string format) : IDisposable
{
    public SKBitmap Bitmap { get; } = bitmap;
    /// <summary>png, jpeg, webp, bmp or gif.</summary>
    public string Format { get; } = format;
    public int Width => Bitmap.Width;
    public int Height => Bitmap.Height;

    public void Dispose() => Bitmap.Dispose();
}
