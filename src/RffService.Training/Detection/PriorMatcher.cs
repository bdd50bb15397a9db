using RffService.Vision.Detection;

namespace RffService.Training.Detection;

/// <summary>
/// SSD matching: every object takes the prior that overlaps it most, and every prior whose best IoU with an object is
/// at least <see cref="Threshold"/> is matched to that object; the rest are background (label -1).
/// </summary>
public static class PriorMatcher
{
    public const float Threshold = 0.5f;

    /// <param name="priors">(cx, cy, w, h) fractions of the input, 4 per prior.</param>
    /// <param name="objects">Ground-truth boxes as fractions of the input.</param>
    public static (int[] Labels, int[] Objects) Match(ReadOnlySpan<float> priors, IReadOnlyList<GroundTruth> objects)
    {
        int count = priors.Length / 4;
        var labels = new int[count];
        var matched = new int[count];
        Array.Fill(labels, -1);
        Array.Fill(matched, -1);
        var best = new float[count];
        var bestPriorOfObject = new int[objects.Count];
        var bestIoUOfObject = new float[objects.Count];
        for (int p = 0; p < count; p++)
        {
            var prior = Box.FromCentre(priors[p * 4], priors[p * 4 + 1], priors[p * 4 + 2], priors[p * 4 + 3]);
            for (int o = 0; o < objects.Count; o++)
            {
                float iou = Box.IoU(prior, objects[o].Box);
                if (iou > best[p]) (best[p], matched[p]) = (iou, o);
                if (iou > bestIoUOfObject[o]) (bestIoUOfObject[o], bestPriorOfObject[o]) = (iou, p);
            }
        }
        for (int p = 0; p < count; p++)
            if (best[p] >= Threshold) labels[p] = objects[matched[p]].Label;
            else matched[p] = -1;
        for (int o = 0; o < objects.Count; o++)
        {
            if (bestIoUOfObject[o] <= 0) continue;
            int p = bestPriorOfObject[o];
            (labels[p], matched[p]) = (objects[o].Label, o);
        }
        return (labels, matched);
    }
}
