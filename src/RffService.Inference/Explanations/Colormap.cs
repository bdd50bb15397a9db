namespace RffService.Inference.Explanations;

/// <summary>
/// Colour maps from [0, 1] to RGB by linear interpolation between control points: jet (blue, cyan, yellow, red, as
/// matplotlib's), viridis and inferno (matplotlib's, sampled at 9 points), and gray.
/// </summary>
public sealed class Colormap
{
    private readonly (byte R, byte G, byte B)[] _stops;

    private Colormap(string name, params (byte, byte, byte)[] stops)
    {
        Name = name;
        _stops = stops;
    }

    public string Name { get; }

    public static readonly Colormap Jet = new("jet",
        (0, 0, 127), (0, 0, 255), (0, 127, 255), (0, 255, 255), (127, 255, 127), (255, 255, 0), (255, 127, 0), (255, 0, 0), (127, 0, 0));

    public static readonly Colormap Viridis = new("viridis",
        (0x44, 0x01, 0x54), (0x47, 0x2c, 0x7a), (0x3b, 0x52, 0x8b), (0x2c, 0x72, 0x8e), (0x21, 0x91, 0x8c),
        (0x28, 0xae, 0x80), (0x5e, 0xc9, 0x62), (0xad, 0xdc, 0x30), (0xfd, 0xe7, 0x25));

    public static readonly Colormap Inferno = new("inferno",
        (0x00, 0x00, 0x04), (0x1f, 0x0c, 0x48), (0x55, 0x0f, 0x6d), (0x88, 0x22, 0x6a), (0xba, 0x36, 0x55),
        (0xe3, 0x59, 0x33), (0xf9, 0x8e, 0x09), (0xf6, 0xd7, 0x46), (0xfc, 0xff, 0xa4));

    public static readonly Colormap Gray = new("gray", (0, 0, 0), (255, 255, 255));

    public static readonly IReadOnlyDictionary<string, Colormap> ByName =
        new[] { Jet, Viridis, Inferno, Gray }.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);

    public (byte R, byte G, byte B) Map(float value)
    {
        float t = float.IsFinite(value) ? Math.Clamp(value, 0f, 1f) : 0f;
        float position = t * (_stops.Length - 1);
        int i = Math.Min((int)position, _stops.Length - 2);
        float f = position - i;
        var (a, b) = (_stops[i], _stops[i + 1]);
        return (Lerp(a.R, b.R, f), Lerp(a.G, b.G, f), Lerp(a.B, b.B, f));
    }

    private static byte Lerp(byte a, byte b, float f) => (byte)MathF.Round(a + (b - a) * f);
}
