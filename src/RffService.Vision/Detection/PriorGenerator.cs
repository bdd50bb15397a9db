using RffService.Vision.Configuration;

namespace RffService.Vision.Detection;

/// <summary>
/// SSD default boxes (Liu et al. 2016), as (cx, cy, w, h) fractions of the input. Map k of m gets scale
/// <c>s_k = s_min + (s_max - s_min) k / (m - 1)</c> (or the configured list); at every cell centre it places a square of
/// side s_k, a square of side sqrt(s_k s_{k+1}), and for each aspect ratio r boxes of (s_k sqrt(r), s_k / sqrt(r)) and the
/// transpose. Order: map, row, column, box. The two styles differ only in s_m after the last map, in clipping and in steps
/// (see <see cref="PriorConfig.Style"/>).
/// </summary>
public static class PriorGenerator
{
    /// <param name="inputWidth">The model input's width in pixels (torchvision style with steps).</param>
    /// <param name="inputHeight">The model input's height in pixels.</param>
    public static float[] Generate(PriorConfig config, int inputWidth = 0, int inputHeight = 0)
    {
        if (config.Boxes is { } explicitBoxes)
        {
            var list = new float[explicitBoxes.Count * 4];
            for (int i = 0; i < explicitBoxes.Count; i++)
            {
                if (explicitBoxes[i].Count != 4) throw new ArgumentException($"priors.boxes[{i}] must hold 4 values (cx, cy, w, h).");
                for (int j = 0; j < 4; j++) list[i * 4 + j] = explicitBoxes[i][j];
            }
            return list;
        }

        bool torchvision = config.Style switch
        {
            PriorConfig.SsdStyle => false,
            PriorConfig.TorchvisionStyle => true,
            _ => throw new ArgumentException($"priors.style must be '{PriorConfig.SsdStyle}' or '{PriorConfig.TorchvisionStyle}', got '{config.Style}'."),
        };
        var maps = config.FeatureMaps;
        var scales = Scales(config, torchvision);
        if (config.Steps is { } steps && (!torchvision || steps.Count != maps.Count || steps.Any(s => s <= 0) || inputWidth <= 0 || inputHeight <= 0))
            throw new ArgumentException("priors.steps needs style 'torchvision', one positive step per feature map and a known input size.");
        var priors = new List<float>();
        for (int k = 0; k < maps.Count; k++)
        {
            var map = maps[k];
            float scale = scales[k];
            float extra = MathF.Sqrt(scale * scales[k + 1]);
            // torchvision computes the centres in float32 as (i + 0.5) / f, f = the cells per input side.
            float cellsX = config.Steps is { } s ? (float)inputWidth / s[k] : map.Width;
            float cellsY = config.Steps is { } t ? (float)inputHeight / t[k] : map.Height;
            for (int y = 0; y < map.Height; y++)
                for (int x = 0; x < map.Width; x++)
                {
                    float cx = (x + 0.5f) / cellsX, cy = (y + 0.5f) / cellsY;
                    Add(cx, cy, scale, scale);
                    Add(cx, cy, extra, extra);
                    foreach (float ratio in map.AspectRatios)
                    {
                        float root = MathF.Sqrt(ratio);
                        Add(cx, cy, scale * root, scale / root);
                        Add(cx, cy, scale / root, scale * root);
                    }
                }
        }
        return priors.ToArray();

        void Add(float cx, float cy, float w, float h)
        {
            if (config.Clip && torchvision)
                (w, h) = (Math.Clamp(w, 0, 1), Math.Clamp(h, 0, 1));
            else if (config.Clip)
            {
                var box = Box.FromCentre(cx, cy, w, h).Clip(1, 1);
                (cx, cy, w, h) = ((box.XMin + box.XMax) / 2, (box.YMin + box.YMax) / 2, box.Width, box.Height);
            }
            priors.AddRange([cx, cy, w, h]);
        }
    }

    /// <summary>s_0 .. s_m: one scale per map and the one after the last.</summary>
    private static float[] Scales(PriorConfig config, bool torchvision)
    {
        int m = config.FeatureMaps.Count;
        if (config.Scales is { } given)
            return given.Count == m + 1 ? [.. given] : throw new ArgumentException($"priors.scales must hold {m + 1} values (one per feature map and one after the last).");
        if (torchvision)
        {
            // DefaultBoxGenerator: linear from min to max (in double, as Python computes them), then 1.0; one map: [min, max].
            if (m == 1) return [config.MinScale, config.MaxScale];
            double range = (double)config.MaxScale - config.MinScale;
            return [.. Enumerable.Range(0, m).Select(k => (float)(config.MinScale + range * k / (m - 1.0))), 1f];
        }
        float step = m > 1 ? (config.MaxScale - config.MinScale) / (m - 1) : 0;
        var scales = Enumerable.Range(0, m).Select(k => config.MinScale + step * k).ToList();
        float last = scales.Count > 0 ? scales[^1] : config.MinScale;
        scales.Add(Math.Min(1f, last + (step > 0 ? step : last)));
        return [.. scales];
    }

    /// <summary>Boxes per cell of a map: two squares plus two per aspect ratio.</summary>
    public static int BoxesPerCell(FeatureMapConfig map) => 2 + 2 * map.AspectRatios.Count;

    public static int Count(PriorConfig config) =>
        config.Boxes?.Count ?? config.FeatureMaps.Sum(m => m.Width * m.Height * BoxesPerCell(m));
}
