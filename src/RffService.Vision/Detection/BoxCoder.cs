namespace RffService.Vision.Detection;

/// <summary>
/// SSD's centre-size box encoding against a prior (cx_p, cy_p, w_p, h_p) with variances (v0, v1, v2, v3):
/// <c>t = ((cx - cx_p) / (w_p v0), (cy - cy_p) / (h_p v1), log(w / w_p) / v2, log(h / h_p) / v3)</c>.
/// </summary>
public sealed class BoxCoder(IReadOnlyList<float> variances)
{
    private readonly float _v0 = variances[0], _v1 = variances[1], _v2 = variances[2], _v3 = variances[3];

    /// <summary>Offsets of <paramref name="box"/> against a prior; writes 4 values.</summary>
    public void Encode(in Box box, ReadOnlySpan<float> prior, Span<float> offsets)
    {
        float cx = (box.XMin + box.XMax) / 2, cy = (box.YMin + box.YMax) / 2;
        float w = Math.Max(box.Width, 1e-6f), h = Math.Max(box.Height, 1e-6f);
        offsets[0] = (cx - prior[0]) / (prior[2] * _v0);
        offsets[1] = (cy - prior[1]) / (prior[3] * _v1);
        offsets[2] = MathF.Log(w / prior[2]) / _v2;
        offsets[3] = MathF.Log(h / prior[3]) / _v3;
    }

    /// <summary>The largest log size ratio decoded, as torchvision's BoxCoder (<c>log(1000 / 16)</c>): exp cannot overflow.</summary>
    public static readonly float MaxLogRatio = MathF.Log(1000f / 16);

    /// <summary>The box that 4 offsets describe against a prior (log size ratios clamped above at <see cref="MaxLogRatio"/>).</summary>
    public Box Decode(ReadOnlySpan<float> offsets, ReadOnlySpan<float> prior)
    {
        float cx = prior[0] + offsets[0] * _v0 * prior[2];
        float cy = prior[1] + offsets[1] * _v1 * prior[3];
        float w = prior[2] * MathF.Exp(Math.Min(offsets[2] * _v2, MaxLogRatio));
        float h = prior[3] * MathF.Exp(Math.Min(offsets[3] * _v3, MaxLogRatio));
        return Box.FromCentre(cx, cy, w, h);
    }
}
