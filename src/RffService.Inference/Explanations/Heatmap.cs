namespace RffService.Inference.Explanations;

/// <summary>A saliency map on a grid (row-major), and the operations on it that explanations need.</summary>
public sealed record Heatmap(float[] Values, int Height, int Width)
{
    /// <summary>Scales to [0, 1] by the maximum after clipping negatives (a map of zeros stays zero).</summary>
    public Heatmap Normalised()
    {
        var values = Values.Select(v => float.IsFinite(v) ? Math.Max(v, 0f) : 0f).ToArray();
        float max = values.Length == 0 ? 0 : values.Max();
        if (max > 0) for (int i = 0; i < values.Length; i++) values[i] /= max;
        return new Heatmap(values, Height, Width);
    }

    /// <summary>
    /// A normalised map's contrast: each value raised to <paramref name="gamma"/> (below 1 widens the bright region,
    /// above 1 narrows it; 0 and 1 stay). Applied on the grid the map is shown or used on, after resampling.
    /// </summary>
    public Heatmap WithGamma(float gamma) =>
        gamma == 1f ? this : new Heatmap(Values.Select(v => MathF.Pow(Math.Max(v, 0f), gamma)).ToArray(), Height, Width);

    /// <summary>Min-max scaling to [0, 1] (Score-CAM's mask normalisation); a constant map becomes zeros.</summary>
    public Heatmap MinMax()
    {
        float min = Values.Min(), max = Values.Max();
        var values = Values.Select(v => max > min ? (v - min) / (max - min) : 0f).ToArray();
        return new Heatmap(values, Height, Width);
    }

    /// <summary>Bilinear resampling with pixel centres aligned (align_corners = false), as image resizers do.</summary>
    public Heatmap Resize(int height, int width)
    {
        if (height == Height && width == Width) return this;
        var result = new float[height * width];
        float scaleY = (float)Height / height, scaleX = (float)Width / width;
        for (int y = 0; y < height; y++)
        {
            float sy = Math.Clamp((y + 0.5f) * scaleY - 0.5f, 0, Height - 1);
            int y0 = (int)sy, y1 = Math.Min(y0 + 1, Height - 1);
            float fy = sy - y0;
            for (int x = 0; x < width; x++)
            {
                float sx = Math.Clamp((x + 0.5f) * scaleX - 0.5f, 0, Width - 1);
                int x0 = (int)sx, x1 = Math.Min(x0 + 1, Width - 1);
                float fx = sx - x0;
                float top = Values[y0 * Width + x0] * (1 - fx) + Values[y0 * Width + x1] * fx;
                float bottom = Values[y1 * Width + x0] * (1 - fx) + Values[y1 * Width + x1] * fx;
                result[y * width + x] = top * (1 - fy) + bottom * fy;
            }
        }
        return new Heatmap(result, height, width);
    }

    public (int Y, int X) Peak()
    {
        int best = 0;
        for (int i = 1; i < Values.Length; i++) if (Values[i] > Values[best]) best = i;
        return (best / Width, best % Width);
    }
}
