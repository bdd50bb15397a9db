using RffService.Inference.Explanations;
using RffService.Training.Evaluation;

namespace RffService.Benchmarks.Explanations;

/// <summary>
/// The pointing game for localisation through the service's own path (decode, resize to the model input, CAM, map back
/// to the canvas): the share of canvases whose map peak falls inside the item's box, per method.
/// </summary>
public static class PointingGame
{
    /// <summary>Hit rate per method: the share of canvases whose heatmap peak (at 56x56) lies in the item's box.</summary>
    /// <param name="channels">Score-CAM and Ablation-CAM: channels scored; null scores all.</param>
    public static Dictionary<string, double> Play(string modelsRoot, string modelName, IReadOnlyList<PointingCanvas> canvases, IReadOnlyList<string> methods, string? layer = null,
        int? channels = CamRequest.DefaultChannels)
    {
        using var service = new LocalService(modelsRoot);
        service.Ready(modelName);
        var cam = service.Cam;
        var progress = new RffService.Training.Common.Progress("pointing game", (long)canvases.Count * methods.Count);
        var rates = new Dictionary<string, double>();
        foreach (string method in methods)
        {
            int hits = 0;
            foreach (var canvas in canvases)
            {
                var result = cam.ExplainAsync(canvas.Png, new CamRequest(modelName, canvas.Label.ToString(), CamMethod.All[method], layer, MeasureFaithfulness: false, Channels: channels))
                    .GetAwaiter().GetResult();
                progress.Advance();
                var (peakY, peakX) = result.Map.Peak();
                if (peakX >= canvas.Left && peakX <= canvas.Right && peakY >= canvas.Top && peakY <= canvas.Bottom) hits++;
            }
            rates[method] = (double)hits / canvases.Count;
        }
        return rates;
    }
}
