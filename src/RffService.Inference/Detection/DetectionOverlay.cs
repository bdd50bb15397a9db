using System.Globalization;
using RffService.Vision.Imaging;
using SkiaSharp;

namespace RffService.Inference.Detection;

/// <summary>
/// Draws detections onto a copy of the original image: a box per detection and a caption (label and score). Images with
/// a short side under <see cref="MinimumSide"/> pixels are drawn enlarged by a whole factor (nearest neighbour, so pixels
/// stay crisp) to leave room for legible captions; captions are sized with the drawing, kept inside it, and placed where
/// they cover the fewest other captions and box lines (above the box, inside its top, below it or inside its bottom).
/// </summary>
public static class DetectionOverlay
{
    public const int MinimumSide = 512;

    private static readonly SKColor[] Palette =
    [
        new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48),
        new(145, 30, 180), new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(250, 190, 212),
    ];

    public static SKColor ColourOf(int classIndex) => Palette[classIndex % Palette.Length];

    /// <summary>The whole factor an image of this size is drawn enlarged by.</summary>
    public static int ZoomFor(int width, int height) => DisplayZoom.For(width, height, MinimumSide);

    public static byte[] RenderPng(DecodedImage image, IReadOnlyList<Detection> detections)
    {
        int zoom = ZoomFor(image.Width, image.Height);
        int width = image.Width * zoom, height = image.Height * zoom;
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        {
            using (var source = SKImage.FromBitmap(image.Bitmap))
                canvas.DrawImage(source, new SKRect(0, 0, width, height), new SKSamplingOptions(SKFilterMode.Nearest));
            int textScale = Math.Clamp(Math.Min(width, height) / 256, 1, 6);
            float stroke = Math.Max(1f, Math.Min(width, height) / 200f);
            var boxes = detections.Select(d => new SKRect(d.Box.X * zoom, d.Box.Y * zoom, (d.Box.X + d.Box.Width) * zoom, (d.Box.Y + d.Box.Height) * zoom)).ToList();
            using var boxPaint = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = stroke, IsAntialias = false };
            // Lowest score first, so the best detections' boxes are drawn on top; captions after all boxes.
            var byScore = Enumerable.Range(0, detections.Count).OrderBy(i => detections[i].Score).ToList();
            foreach (int i in byScore)
            {
                boxPaint.Color = ColourOf(detections[i].ClassIndex);
                canvas.DrawRect(boxes[i], boxPaint);
            }

            using var fill = new SKPaint { Style = SKPaintStyle.Fill };
            using var text = new SKPaint { Style = SKPaintStyle.Fill, Color = SKColors.Black };
            var placed = new List<SKRect>();
            foreach (int i in Enumerable.Reverse(byScore)) // the best detections choose their caption's place first
            {
                var d = detections[i];
                string caption = $"{d.Label} {d.Score.ToString("P0", CultureInfo.InvariantCulture).Replace(" ", "")}";
                var size = new SKSize(BitmapFont.Measure(caption, textScale) + 2 * textScale, (BitmapFont.GlyphHeight + 2) * textScale);
                var place = CaptionPlace(boxes[i], size, stroke, width, height, placed, boxes, i);
                placed.Add(place);
                fill.Color = ColourOf(d.ClassIndex);
                canvas.DrawRect(place, fill);
                BitmapFont.Draw(canvas, caption, place.Left + textScale, place.Top + textScale, textScale, text);
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>The candidate place that stays inside the image and covers the least of other captions and box lines.</summary>
    public static SKRect CaptionPlace(SKRect box, SKSize size, float stroke, int width, int height, IReadOnlyList<SKRect> placed,
        IReadOnlyList<SKRect> boxes, int own)
    {
        float left = Math.Clamp(box.Left, 0, Math.Max(0, width - size.Width));
        float[] tops = [box.Top - size.Height, box.Top + stroke, box.Bottom + stroke, box.Bottom - size.Height - stroke];
        SKRect best = default;
        float bestCost = float.MaxValue;
        foreach (float top in tops)
        {
            float clamped = Math.Clamp(top, 0, Math.Max(0, height - size.Height));
            var rect = SKRect.Create(left, clamped, size.Width, size.Height);
            float cost = (top == clamped ? 0 : 1_000) // pushed back inside the image: off its box
                + placed.Sum(p => Area(SKRect.Intersect(p, rect))) * 10
                + boxes.Where((_, j) => j != own).Sum(b => LineCrossings(b, rect) * size.Height);
            if (cost < bestCost) (best, bestCost) = (rect, cost);
        }
        return best;
    }

    private static float Area(SKRect r) => r.IsEmpty ? 0 : r.Width * r.Height;

    /// <summary>How many of a box's four edges pass through the rectangle.</summary>
    private static int LineCrossings(SKRect box, SKRect r)
    {
        bool spansX = box.Left < r.Right && box.Right > r.Left, spansY = box.Top < r.Bottom && box.Bottom > r.Top;
        int n = 0;
        if (spansX && box.Top >= r.Top && box.Top <= r.Bottom) n++;
        if (spansX && box.Bottom >= r.Top && box.Bottom <= r.Bottom) n++;
        if (spansY && box.Left >= r.Left && box.Left <= r.Right) n++;
        if (spansY && box.Right >= r.Left && box.Right <= r.Right) n++;
        return n;
    }
}
