using RffService.Inference.Detection;
using RffService.Inference.Explanations;

namespace RffService.Benchmarks.Explanations;

/// <summary>
/// The pointing game for explained detections, through the service's own path: each held-out canvas is detected, and
/// each detection explained (<c>/cam?detection=i</c>, the detection method's default); a hit is a map whose peak lies
/// inside the detection's own box.
/// </summary>
public static class DetectionPointingGame
{
    public sealed record Result(string Method, int Detections, int Hits)
    {
        public double Rate => Detections == 0 ? double.NaN : (double)Hits / Detections;
    }

    public static IReadOnlyList<Result> Play(string modelsRoot, string modelName, IReadOnlyList<byte[]> canvases, IReadOnlyList<string> methods)
    {
        using var service = new LocalService(modelsRoot);
        service.Ready(modelName);
        var request = new DetectionRequest();
        var found = canvases.Select(png => service.Detector.DetectAsync([png], modelName, request).GetAwaiter().GetResult()[0].Detections).ToList();
        var progress = new RffService.Training.Common.Progress("detection pointing game", found.Sum(d => d.Count) * methods.Count);
        var results = new List<Result>();
        foreach (string method in methods)
        {
            int detections = 0, hits = 0;
            for (int c = 0; c < canvases.Count; c++)
                for (int i = 0; i < found[c].Count; i++)
                {
                    var cam = service.Cam.ExplainAsync(canvases[c], new CamRequest(modelName, Method: CamMethod.All[method], MeasureFaithfulness: false,
                        Detection: i, DetectionQuery: request)).GetAwaiter().GetResult();
                    progress.Advance();
                    var box = found[c][i].Box;
                    var (y, x) = cam.Map.Peak();
                    detections++;
                    if (x >= box.X && x <= box.X + box.Width && y >= box.Y && y <= box.Y + box.Height) hits++;
                }
            results.Add(new Result(method, detections, hits));
        }
        return results;
    }
}
