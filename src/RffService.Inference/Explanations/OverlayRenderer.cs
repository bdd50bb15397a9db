using RffService.Vision.Detection;
using RffService.Vision.Imaging;
using SkiaSharp;

namespace RffService.Inference.Explanations;

/// <summary>Renders a heatmap as a grayscale PNG and as a coloured overlay blended onto the original image.</summary>
public static class OverlayRenderer
{
    /// <summary>
    /// The heatmap (on the model input grid) is mapped back to the original image through the resize transform,
    /// upsampled bilinearly to the original size, coloured, and blended: <c>alpha * colour + (1 - alpha) * image</c>.
    /// The overlay, for people, is drawn enlarged by a whole factor when the image's short side is under
    /// <paramref name="overlayMinimumSide"/> (nearest neighbour, see <see cref="DisplayZoom"/>); the grayscale heatmap
    /// and the values, for programs, stay at the original size. Its contrast is <paramref name="gamma"/> (<see cref="Heatmap.WithGamma"/>).
    /// </summary>
    public static (byte[] OverlayPng, byte[] HeatmapPng, Heatmap Original) Render(DecodedImage original, Heatmap inputHeatmap, ResizeTransform transform,
        Colormap colormap, float alpha, Box? box = null, int overlayMinimumSide = 0, float gamma = 1f)
    {
        var heat = ToOriginal(inputHeatmap, transform, original.Width, original.Height, gamma);
        using var overlay = new SKBitmap(new SKImageInfo(original.Width, original.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using var gray = new SKBitmap(new SKImageInfo(original.Width, original.Height, SKColorType.Gray8, SKAlphaType.Opaque));
        ReadOnlySpan<byte> source = original.Bitmap.GetPixelSpan();
        var destination = overlay.GetPixelSpan();
        var grayPixels = gray.GetPixelSpan();
        int sourceRow = original.Bitmap.RowBytes, destinationRow = overlay.RowBytes, grayRow = gray.RowBytes;
        for (int y = 0; y < original.Height; y++)
            for (int x = 0; x < original.Width; x++)
            {
                float v = heat.Values[y * heat.Width + x];
                var (r, g, b) = colormap.Map(v);
                int s = y * sourceRow + x * 4, d = y * destinationRow + x * 4;
                destination[d] = Blend(r, source[s], alpha);
                destination[d + 1] = Blend(g, source[s + 1], alpha);
                destination[d + 2] = Blend(b, source[s + 2], alpha);
                destination[d + 3] = 255;
                grayPixels[y * grayRow + x] = (byte)MathF.Round(Math.Clamp(v, 0f, 1f) * 255f);
            }
        using var shown = Enlarged(overlay, DisplayZoom.For(original.Width, original.Height, overlayMinimumSide));
        if (box is { } outline)
        {
            // The explained detection's box, in white over the overlay.
            float zoom = (float)shown.Width / original.Width;
            using var canvas = new SKCanvas(shown);
            using var paint = new SKPaint { Style = SKPaintStyle.Stroke, Color = SKColors.White, StrokeWidth = Math.Max(1f, Math.Min(shown.Width, shown.Height) / 100f) };
            canvas.DrawRect(outline.XMin * zoom, outline.YMin * zoom, outline.Width * zoom, outline.Height * zoom, paint);
        }
        return (Encode(shown), Encode(gray), heat);
    }

    /// <summary>A copy of the bitmap drawn <paramref name="zoom"/> times larger, nearest neighbour.</summary>
    private static SKBitmap Enlarged(SKBitmap bitmap, int zoom)
    {
        var enlarged = new SKBitmap(new SKImageInfo(bitmap.Width * zoom, bitmap.Height * zoom, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using var canvas = new SKCanvas(enlarged);
        using var image = SKImage.FromBitmap(bitmap);
        canvas.DrawImage(image, new SKRect(0, 0, enlarged.Width, enlarged.Height), new SKSamplingOptions(SKFilterMode.Nearest));
        return enlarged;
    }

    /// <summary>Takes the part of the input-grid heatmap that covers the image (no letterbox padding) to the original size.</summary>
    public static Heatmap ToOriginal(Heatmap inputHeatmap, ResizeTransform transform, int width, int height, float gamma = 1f)
    {
        var normalised = inputHeatmap.Normalised();
        var result = new float[width * height];
        // Sample the input grid at the position of each original pixel's centre.
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (ix, iy) = transform.ToInput(x + 0.5f, y + 0.5f);
                result[y * width + x] = Sample(normalised, iy - 0.5f, ix - 0.5f);
            }
        return new Heatmap(result, height, width).WithGamma(gamma);
    }

    private static float Sample(Heatmap map, float y, float x)
    {
        y = Math.Clamp(y, 0, map.Height - 1);
        x = Math.Clamp(x, 0, map.Width - 1);
        int y0 = (int)y, x0 = (int)x, y1 = Math.Min(y0 + 1, map.Height - 1), x1 = Math.Min(x0 + 1, map.Width - 1);
        float fy = y - y0, fx = x - x0;
        float top = map.Values[y0 * map.Width + x0] * (1 - fx) + map.Values[y0 * map.Width + x1] * fx;
        float bottom = map.Values[y1 * map.Width + x0] * (1 - fx) + map.Values[y1 * map.Width + x1] * fx;
        return top * (1 - fy) + bottom * fy;
    }

    private static byte Blend(byte colour, byte image, float alpha) => (byte)MathF.Round(alpha * colour + (1 - alpha) * image);

    private static byte[] Encode(SKBitmap bitmap)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
