using System.Numerics.Tensors;

namespace RffService.Vision.Detection;

/// <summary>
/// Greedy non-maximum suppression. Candidates are sorted once by score (ties: lower index first); each kept box
/// suppresses the later boxes whose IoU with it exceeds the threshold, computed for all of them at once with
/// vectorised span arithmetic over structure-of-arrays coordinates.
/// </summary>
public static class NonMaxSuppression
{
    /// <summary>Indices of the kept boxes, best first, at most <paramref name="maxKept"/>.</summary>
    public static List<int> Apply(IReadOnlyList<Box> boxes, ReadOnlySpan<float> scores, float iouThreshold, int maxKept = int.MaxValue)
    {
        int n = boxes.Count;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = scores[..n].ToArray();
        Array.Sort(order, (a, b) => keys[b] != keys[a] ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));

        // Sorted structure-of-arrays copies, so the IoU of one box against all later ones is a few span operations.
        var x1 = new float[n]; var y1 = new float[n]; var x2 = new float[n]; var y2 = new float[n]; var area = new float[n];
        for (int i = 0; i < n; i++)
        {
            var b = boxes[order[i]];
            (x1[i], y1[i], x2[i], y2[i], area[i]) = (b.XMin, b.YMin, b.XMax, b.YMax, b.Area);
        }
        var suppressed = new bool[n];
        var kept = new List<int>();
        var intersection = new float[n]; var height = new float[n]; var scratch = new float[n];
        for (int i = 0; i < n && kept.Count < maxKept; i++)
        {
            if (suppressed[i]) continue;
            kept.Add(order[i]);
            int rest = n - i - 1;
            if (rest == 0 || area[i] <= 0) continue; // an empty box overlaps nothing
            var w = intersection.AsSpan(0, rest); var h = height.AsSpan(0, rest); var t = scratch.AsSpan(0, rest);
            TensorPrimitives.Min(x2.AsSpan(i + 1, rest), x2[i], w);
            TensorPrimitives.Max(x1.AsSpan(i + 1, rest), x1[i], t);
            TensorPrimitives.Subtract(w, t, w);
            TensorPrimitives.Min(y2.AsSpan(i + 1, rest), y2[i], h);
            TensorPrimitives.Max(y1.AsSpan(i + 1, rest), y1[i], t);
            TensorPrimitives.Subtract(h, t, h);
            TensorPrimitives.Max(w, 0f, w);
            TensorPrimitives.Max(h, 0f, h);
            TensorPrimitives.Multiply(w, h, w);
            for (int j = 0; j < rest; j++)
            {
                float inter = w[j];
                if (inter <= 0) continue;
                float union = area[i] + area[i + 1 + j] - inter;
                if (union > 0 && inter / union > iouThreshold) suppressed[i + 1 + j] = true;
            }
        }
        return kept;
    }
}
