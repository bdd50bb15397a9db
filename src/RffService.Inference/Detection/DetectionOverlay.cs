using System.Globalization;
using RffService.Vision.Imaging;
using SkiaSharp;

namespace RffService.Inference.Detection;

/// <summary>Draws detections onto a copy of the original image: a box per detection, and its label and score above it.</summary>
public static class DetectionOverlay
{
    private static readonly SKColor[] Palette =
    [
        new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48),
        new(145, 30, 180), new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(250, 190, 212),
    ];

    public static SKColor ColourOf(int classIndex) => Palette[classIndex % Palette.Length];

    public static byte[] RenderPng(DecodedImage image, IReadOnlyList<Detection> detections)
    {
        using var bitmap = image.Bitmap.Copy(SKColorType.Rgba8888);
        using (var canvas = new SKCanvas(bitmap))
        {
            int shortSide = Math.Min(image.Width, image.Height);
            int textScale = Math.Clamp(shortSide / 200, 1, 4);
            float stroke = Math.Max(1f, shortSide / 160f);
            using var boxPaint = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = stroke, IsAntialias = false };
            using var fill = new SKPaint { Style = SKPaintStyle.Fill };
            using var text = new SKPaint { Style = SKPaintStyle.Fill, Color = SKColors.Black };
            // Lowest score first, so the best detections are drawn on top.
            foreach (var d in detections.OrderBy(d => d.Score))
            {
                var colour = ColourOf(d.ClassIndex);
                boxPaint.Color = colour;
                fill.Color = colour;
                canvas.DrawRect(d.Box.X, d.Box.Y, d.Box.Width, d.Box.Height, boxPaint);
                string caption = $"{d.Label} {d.Score.ToString("0.00", CultureInfo.InvariantCulture)}";
                int width = BitmapFont.Measure(caption, textScale) + 2 * textScale;
                int height = (BitmapFont.GlyphHeight + 2) * textScale;
                float top = d.Box.Y >= height ? d.Box.Y - height : d.Box.Y; // inside the box when there is no room above
                float left = Math.Clamp(d.Box.X, 0, Math.Max(0, image.Width - width));
                canvas.DrawRect(left, top, width, height, fill);
                BitmapFont.Draw(canvas, caption, left + textScale, top + textScale, textScale, text);
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
