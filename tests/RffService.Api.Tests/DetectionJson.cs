using System.Text.Json;
using RffService.Vision.Detection;

namespace RffService.Api.Tests;

/// <summary>Boxes as the tests read them from JSON answers and reference files.</summary>
internal static class DetectionJson
{
    /// <summary>A /detect box (x, y, width, height in pixels) by its corners.</summary>
    public static Box PixelBox(JsonElement box) => new(box.GetProperty("x").GetSingle(), box.GetProperty("y").GetSingle(),
        box.GetProperty("x").GetSingle() + box.GetProperty("width").GetSingle(), box.GetProperty("y").GetSingle() + box.GetProperty("height").GetSingle());

    /// <summary>A box written as [x_min, y_min, x_max, y_max].</summary>
    public static Box Corners(JsonElement box)
    {
        var v = box.EnumerateArray().Select(e => e.GetSingle()).ToArray();
        return new Box(v[0], v[1], v[2], v[3]);
    }
}
