using RffService.Inference.Detection;
using RffService.Inference.Explanations;

namespace RffService.Benchmarks.Explanations;

/// <summary>
/// The pointing game for explained detections, through the service's own path: each held-out canvas is detected, and
/// each detection explained (<c>/cam?detection=i</c>); a hit is a map whose peak lies inside the detection's own box.
/// How the map looks is measured too: the share of its mass inside the box (against the box's share of the image, what
/// a flat map would give), and the faithfulness figures on the detection's own score (average drop when the image is
/// masked by the map, deletion AUC).
/// </summary>
public static class DetectionPointingGame
{
    public sealed record Result(string Method, float Gamma, int Detections, int Hits, double EnergyInBox, double BoxShare, double AverageDrop, double DeletionAuc)
    {
        public double Rate => Detections == 0 ? double.NaN : (double)Hits / Detections;
    }

    /// <param name="layer">As /cam's layer= (a name, an index, several with commas, or all); the default layer when null.</param>
    /// <param name="gammas">As /cam's gamma=: the map's contrast; each method is played with each.</param>
    public static IReadOnlyList<Result> Play(string modelsRoot, string modelName, IReadOnlyList<byte[]> canvases, IReadOnlyList<string> methods, string? layer,
        IReadOnlyList<float> gammas)
    {
        using var service = new LocalService(modelsRoot);
        service.Ready(modelName);
        var request = new DetectionRequest();
        var found = canvases.Select(png => service.Detector.DetectAsync([png], modelName, request).GetAwaiter().GetResult()[0].Detections).ToList();
        var progress = new RffService.Training.Common.Progress("detection pointing game", found.Sum(d => d.Count) * methods.Count * gammas.Count);
        var results = new List<Result>();
        foreach (var (method, gamma) in methods.SelectMany(m => gammas.Select(g => (m, g))))
        {
            int detections = 0, hits = 0;
            double energy = 0, share = 0, drop = 0, deletion = 0;
            for (int c = 0; c < canvases.Count; c++)
                for (int i = 0; i < found[c].Count; i++)
                {
                    var cam = service.Cam.ExplainAsync(canvases[c], new CamRequest(modelName, Method: CamMethod.All[method], Layer: layer, MeasureFaithfulness: true,
                        Detection: i, DetectionQuery: request, Gamma: gamma)).GetAwaiter().GetResult();
                    progress.Advance();
                    var box = found[c][i].Box;
                    var map = cam.Map;
                    var (y, x) = map.Peak();
                    detections++;
                    if (x >= box.X && x <= box.X + box.Width && y >= box.Y && y <= box.Y + box.Height) hits++;
                    double inside = 0, total = 0;
                    for (int py = 0; py < map.Height; py++)
                        for (int px = 0; px < map.Width; px++)
                        {
                            double v = Math.Max(0, map.Values[py * map.Width + px]);
                            total += v;
                            if (px + 0.5 >= box.X && px + 0.5 <= box.X + box.Width && py + 0.5 >= box.Y && py + 0.5 <= box.Y + box.Height) inside += v;
                        }
                    energy += total > 0 ? inside / total : 0;
                    share += box.Width * box.Height / (map.Width * map.Height);
                    drop += cam.Faithfulness!.AverageDrop;
                    deletion += cam.Faithfulness.DeletionAuc;
                }
            int n = Math.Max(1, detections);
            results.Add(new Result(method, gamma, detections, hits, energy / n, share / n, drop / n, deletion / n));
        }
        return results;
    }
}
