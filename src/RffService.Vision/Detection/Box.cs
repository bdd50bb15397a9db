namespace RffService.Vision.Detection;

/// <summary>An axis-aligned box by its corners.</summary>
public readonly record struct Box(float XMin, float YMin, float XMax, float YMax)
{
    public float Width => XMax - XMin;
    public float Height => YMax - YMin;
    /// <summary>Area, 0 for empty or inverted boxes.</summary>
    public float Area => Math.Max(0, Width) * Math.Max(0, Height);

    public static Box FromCentre(float cx, float cy, float w, float h) => new(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);

    public Box Clip(float width, float height) =>
        new(Math.Clamp(XMin, 0, width), Math.Clamp(YMin, 0, height), Math.Clamp(XMax, 0, width), Math.Clamp(YMax, 0, height));

    /// <summary>Intersection over union; 0 when either box has no area.</summary>
    public static float IoU(in Box a, in Box b)
    {
        float iw = Math.Min(a.XMax, b.XMax) - Math.Max(a.XMin, b.XMin);
        float ih = Math.Min(a.YMax, b.YMax) - Math.Max(a.YMin, b.YMin);
        if (iw <= 0 || ih <= 0) return 0;
        float intersection = iw * ih;
        float union = a.Area + b.Area - intersection;
        return union > 0 ? intersection / union : 0;
    }
}
