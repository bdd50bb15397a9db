using RffService.Training.Common;
using RffService.Training.Detection;
using RffService.Vision.Detection;
using SkiaSharp;

namespace RffService.Training.Evaluation;

/// <summary>
/// Evaluates an exported detector on canvases through the service's own code path: each canvas is encoded as PNG and
/// run with the service's decoding, pre-processing and post-processing (softmax, box decoding, NMS, mapping back to
/// pixels) and ONNX Runtime; mAP is computed on the boxes it gives.
/// </summary>
public static class DetectorEvaluator
{
    /// <param name="first">Index of the first canvas of the generator's sequence.</param>
    public static DetectionReport Evaluate(string modelsRoot, string modelName, CanvasGenerator canvases, int count, IReadOnlyList<string> labels, int first = 0)
    {
        using var model = new RepositoryModel(modelsRoot, modelName);
        var parameters = new DetectionParameters(SsdTrainer.EvaluationScoreThreshold, SsdTrainer.EvaluationIouThreshold, SsdTrainer.EvaluationMaxDetections);
        var detections = new List<ScoredBox>();
        var truth = new IReadOnlyList<GroundTruth>[count];
        var progress = new Progress("evaluate", count);
        const int batch = 16;
        for (int start = 0; start < count; start += batch)
        {
            int n = Math.Min(batch, count - start);
            var images = new ReadOnlyMemory<byte>[n];
            for (int i = 0; i < n; i++)
            {
                var canvas = canvases.Make(first + start + i);
                truth[start + i] = canvas.Objects;
                images[i] = Png(canvas);
            }
            var results = model.Detect(images, parameters);
            for (int i = 0; i < n; i++)
                foreach (var (classIndex, score, box) in results[i])
                    detections.Add(new ScoredBox(start + i, classIndex, score, box));
            progress.Advance(n);
        }
        return DetectionMetrics.Evaluate(detections, truth, labels);
    }

    public static byte[] Png(Canvas canvas)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(canvas.Size, canvas.Size, SKColorType.Gray8, SKAlphaType.Opaque));
        canvas.Pixels.CopyTo(bitmap.GetPixelSpan());
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }
}
