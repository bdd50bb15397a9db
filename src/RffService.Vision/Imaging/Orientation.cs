using SkiaSharp;

namespace RffService.Vision.Imaging;

/// <summary>Turns a bitmap stored in an EXIF orientation into the upright image a viewer shows.</summary>
public static class Orientation
{
    /// <summary>Returns the upright bitmap: the same instance for <see cref="SKEncodedOrigin.TopLeft"/>, else a new one.</summary>
    public static SKBitmap Apply(SKBitmap source, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft or 0) return source;
        int w = source.Width, h = source.Height;
        bool swaps = origin >= SKEncodedOrigin.LeftTop; // 5..8 exchange width and height
        var result = new SKBitmap(new SKImageInfo(swaps ? h : w, swaps ? w : h, source.ColorType, source.AlphaType));
        using var canvas = new SKCanvas(result);
        canvas.SetMatrix(ToUpright(origin, w, h));
        canvas.DrawBitmap(source, 0, 0);
        return result;
    }

    /// <summary>The matrix that maps stored pixel coordinates to upright ones (EXIF orientation 2..8).</summary>
    private static SKMatrix ToUpright(SKEncodedOrigin origin, int w, int h) => origin switch
    {
        SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),     // mirror horizontally
        SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1), // rotate 180
        SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),   // mirror vertically
        SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),       // transpose
        SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),     // rotate 90 clockwise
        SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1), // transverse
        SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),   // rotate 90 counter-clockwise
        _ => SKMatrix.Identity,
    };
}
