namespace RffService.Vision.Postprocessing;

public static class TopK
{
    /// <summary>Indices of the k largest values, largest first; ties keep the lower index first.</summary>
    public static int[] Select(ReadOnlySpan<float> values, int k)
    {
        k = Math.Clamp(k, 0, values.Length);
        var indices = new int[values.Length];
        for (int i = 0; i < indices.Length; i++) indices[i] = i;
        var copy = values.ToArray();
        Array.Sort(indices, (a, b) => copy[b] != copy[a] ? copy[b].CompareTo(copy[a]) : a.CompareTo(b));
        return indices[..k];
    }
}
