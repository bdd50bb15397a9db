using RffService.Vision.Configuration;

namespace RffService.Vision.Detection;

/// <summary>
/// SSD default boxes (Liu et al. 2016), as (cx, cy, w, h) fractions of the input. Map k of m gets scale
/// <c>s_k = s_min + (s_max - s_min) k / (m - 1)</c>; at every cell centre it places a square of side s_k, a square of side
/// sqrt(s_k s_{k+1}) (s_m extrapolated), and for each aspect ratio r boxes of (s_k sqrt(r), s_k / sqrt(r)) and the transpose.
/// Order: map, row, column, box.
/// </summary>
public static class PriorGenerator
{
    public static float[] Generate(PriorConfig config)
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

        var maps = config.FeatureMaps;
        var priors = new List<float>();
        float step = maps.Count > 1 ? (config.MaxScale - config.MinScale) / (maps.Count - 1) : 0;
        for (int k = 0; k < maps.Count; k++)
        {
            var map = maps[k];
            float scale = config.MinScale + step * k;
            float next = k + 1 < maps.Count ? scale + step : Math.Min(1f, scale + (step > 0 ? step : scale));
            float extra = MathF.Sqrt(scale * next);
            for (int y = 0; y < map.Height; y++)
                for (int x = 0; x < map.Width; x++)
                {
                    float cx = (x + 0.5f) / map.Width, cy = (y + 0.5f) / map.Height;
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
            if (config.Clip)
            {
                var box = Box.FromCentre(cx, cy, w, h).Clip(1, 1);
                (cx, cy, w, h) = ((box.XMin + box.XMax) / 2, (box.YMin + box.YMax) / 2, box.Width, box.Height);
            }
            priors.AddRange([cx, cy, w, h]);
        }
    }

    /// <summary>Boxes per cell of a map: two squares plus two per aspect ratio.</summary>
    public static int BoxesPerCell(FeatureMapConfig map) => 2 + 2 * map.AspectRatios.Count;

    public static int Count(PriorConfig config) =>
        config.Boxes?.Count ?? config.FeatureMaps.Sum(m => m.Width * m.Height * BoxesPerCell(m));
}
