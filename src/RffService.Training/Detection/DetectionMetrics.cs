using RffService.Vision.Detection;

namespace RffService.Training.Detection;

/// <summary>A predicted box on one image of an evaluation set.</summary>
public readonly record struct ScoredBox(int Image, int Label, float Score, Box Box);

/// <summary>
/// Average precision of detections against ground truth. Detections of a class are ranked by score; each is a true
/// positive when its best-overlapping ground-truth box of that class on its image has IoU &gt;= the threshold and is
/// not yet taken (a duplicate is a false positive).
/// </summary>
public static class DetectionMetrics
{
    public static readonly double[] CocoThresholds = Enumerable.Range(0, 10).Select(i => 0.5 + 0.05 * i).ToArray();

    /// <summary>Precision and recall after each detection of one class, best score first.</summary>
    public static (double[] Precision, double[] Recall) PrecisionRecall(IReadOnlyList<ScoredBox> detections,
        IReadOnlyList<IReadOnlyList<GroundTruth>> truth, int label, double iouThreshold)
    {
        int positives = truth.Sum(t => t.Count(g => g.Label == label));
        var ranked = detections.Where(d => d.Label == label).OrderByDescending(d => d.Score).ToList();
        var taken = truth.Select(t => new bool[t.Count]).ToArray();
        var precision = new double[ranked.Count];
        var recall = new double[ranked.Count];
        int truePositives = 0;
        for (int i = 0; i < ranked.Count; i++)
        {
            var d = ranked[i];
            var objects = truth[d.Image];
            int best = -1;
            double bestIoU = iouThreshold;
            for (int g = 0; g < objects.Count; g++)
            {
                if (objects[g].Label != label) continue;
                double iou = Box.IoU(d.Box, objects[g].Box);
                if (iou >= bestIoU && (best < 0 || iou > bestIoU)) (best, bestIoU) = (g, iou);
            }
            // VOC: the detection is matched to its best overlap; if that object is already taken it is a duplicate.
            if (best >= 0 && !taken[d.Image][best])
            {
                taken[d.Image][best] = true;
                truePositives++;
            }
            precision[i] = (double)truePositives / (i + 1);
            recall[i] = positives == 0 ? 0 : (double)truePositives / positives;
        }
        return (precision, recall);
    }

    /// <summary>VOC 2010+ all-point interpolated AP: the area under the precision envelope (max precision at recall &gt;= r).</summary>
    public static double AllPointAp(double[] precision, double[] recall)
    {
        var envelope = precision.ToArray();
        for (int i = envelope.Length - 2; i >= 0; i--) envelope[i] = Math.Max(envelope[i], envelope[i + 1]);
        double ap = 0, previousRecall = 0;
        for (int i = 0; i < recall.Length; i++)
        {
            ap += (recall[i] - previousRecall) * envelope[i];
            previousRecall = recall[i];
        }
        return ap;
    }

    /// <summary>COCO's 101-point interpolated AP: mean of the precision envelope at recall 0, 0.01, ..., 1.</summary>
    public static double CocoAp(double[] precision, double[] recall)
    {
        var envelope = precision.ToArray();
        for (int i = envelope.Length - 2; i >= 0; i--) envelope[i] = Math.Max(envelope[i], envelope[i + 1]);
        double sum = 0;
        for (int r = 0; r <= 100; r++)
        {
            int index = Array.FindIndex(recall, v => v >= r / 100.0 - 1e-12);
            sum += index >= 0 ? envelope[index] : 0;
        }
        return sum / 101;
    }

    /// <summary>mAP@0.5 (VOC all-point), COCO mAP@[.5:.95] and per-class AP@0.5, over the classes that have ground truth.</summary>
    public static DetectionReport Evaluate(IReadOnlyList<ScoredBox> detections, IReadOnlyList<IReadOnlyList<GroundTruth>> truth, IReadOnlyList<string> labels)
    {
        var perClass = new Dictionary<string, double>();
        var cocoPerClass = new List<double>();
        for (int label = 0; label < labels.Count; label++)
        {
            if (!truth.Any(t => t.Any(g => g.Label == label))) continue;
            var (p, r) = PrecisionRecall(detections, truth, label, 0.5);
            perClass[labels[label]] = AllPointAp(p, r);
            cocoPerClass.Add(CocoThresholds.Average(threshold =>
            {
                var (pt, rt) = PrecisionRecall(detections, truth, label, threshold);
                return CocoAp(pt, rt);
            }));
        }
        // Class-agnostic AP@0.5 separates finding objects from naming them.
        var agnosticDetections = detections.Select(d => d with { Label = 0 }).ToList();
        var agnosticTruth = truth.Select(t => (IReadOnlyList<GroundTruth>)t.Select(g => g with { Label = 0 }).ToList()).ToList();
        var (ap, ar) = PrecisionRecall(agnosticDetections, agnosticTruth, 0, 0.5);
        return new DetectionReport(
            perClass.Count == 0 ? 0 : perClass.Values.Average(),
            cocoPerClass.Count == 0 ? 0 : cocoPerClass.Average(),
            perClass,
            truth.Count,
            truth.Sum(t => t.Count),
            detections.Count,
            AllPointAp(ap, ar));
    }
}

/// <summary>Detection quality on an evaluation set.</summary>
public sealed record DetectionReport(double MapAt50, double CocoMap, IReadOnlyDictionary<string, double> ApAt50PerClass, int Images, int Objects, int Detections,
    double ClassAgnosticApAt50)
{
    public override string ToString() =>
        $"mAP@0.5 {MapAt50:F4}, COCO mAP@[.5:.95] {CocoMap:F4}, class-agnostic AP@0.5 {ClassAgnosticApAt50:F4} ({Images} images, {Objects} objects, {Detections} detections)\n" +
        string.Join("\n", ApAt50PerClass.Select(kv => $"  AP@0.5 {kv.Key,-12} {kv.Value:F4}"));
}
