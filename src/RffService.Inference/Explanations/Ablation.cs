using System.Globalization;
using RffService.Vision;

namespace RffService.Inference.Explanations;

/// <summary>What to switch off at a layer: every channel, the top K by contribution to the target, or listed channels.</summary>
public abstract record ChannelChoice
{
    public sealed record All : ChannelChoice;
    public sealed record Top(int Count) : ChannelChoice;
    public sealed record Listed(IReadOnlyList<int> Channels) : ChannelChoice;
}

/// <summary>A region of the original image, in pixels: top-left corner and size.</summary>
public sealed record PixelRegion(float X, float Y, float Width, float Height);

/// <summary>
/// One intervention a request asks for, <c>&lt;layer&gt;:&lt;what&gt;[@x,y,w,h][=blank]</c>: a CAM layer (name or index),
/// the channels, optionally the layer cells whose centres lie in a region of the image, and whether they are switched
/// to the blank image's activations instead of zero.
/// </summary>
public sealed record Ablation(string Layer, ChannelChoice Channels, PixelRegion? Region, bool Blank)
{
    /// <summary>How many interventions one request may ask for.</summary>
    public const int MaxPerRequest = 16;

    /// <summary>The syntax, as error messages show it.</summary>
    public const string Syntax = "<layer>:<what>[@x,y,w,h][=blank], several joined with ';', where <what> is all, top<K> or channel indices joined with commas";

    /// <summary>Parses the <c>ablate</c> parameter; null or blank gives none. A malformed spec is a 400 naming the syntax.</summary>
    public static IReadOnlyList<Ablation> ParseList(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        var parts = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length > MaxPerRequest)
            throw Malformed($"at most {MaxPerRequest} interventions per request; got {parts.Length}.");
        return parts.Select(Parse).ToList();
    }

    public static Ablation Parse(string spec)
    {
        int colon = spec.LastIndexOf(':');
        if (colon <= 0) throw Malformed($"'{Text.Shorten(spec)}' has no '<layer>:' before what to switch off.");
        string layer = spec[..colon].Trim(), rest = spec[(colon + 1)..].Trim();

        bool blank = false;
        int equals = rest.IndexOf('=');
        if (equals >= 0)
        {
            string value = rest[(equals + 1)..].Trim();
            blank = value.Equals("blank", StringComparison.OrdinalIgnoreCase);
            if (!blank && !value.Equals("zero", StringComparison.OrdinalIgnoreCase))
                throw Malformed($"the value after '=' must be blank (or zero, the default); got '{Text.Shorten(value)}' in '{Text.Shorten(spec)}'.");
            rest = rest[..equals].Trim();
        }

        PixelRegion? region = null;
        int at = rest.IndexOf('@');
        if (at >= 0)
        {
            region = ParseRegion(rest[(at + 1)..], spec);
            rest = rest[..at].Trim();
        }
        return new Ablation(layer, ParseChannels(rest, spec), region, blank);
    }

    private static ChannelChoice ParseChannels(string what, string spec)
    {
        if (what.Equals("all", StringComparison.OrdinalIgnoreCase)) return new ChannelChoice.All();
        if (what.StartsWith("top", StringComparison.OrdinalIgnoreCase))
            return int.TryParse(what[3..], NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k >= 1
                ? new ChannelChoice.Top(k)
                : throw Malformed($"top<K> needs a whole number K >= 1 (e.g. top5); got '{Text.Shorten(what)}' in '{Text.Shorten(spec)}'.");
        var channels = new List<int>();
        foreach (var part in what.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int channel))
                throw Malformed($"what to switch off must be all, top<K> or channel indices joined with commas; got '{Text.Shorten(what)}' in '{Text.Shorten(spec)}'.");
            if (!channels.Contains(channel)) channels.Add(channel);
        }
        return new ChannelChoice.Listed(channels);
    }

    private static PixelRegion ParseRegion(string text, string spec)
    {
        var numbers = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[4];
        if (numbers.Length != 4 || !numbers.Select((n, i) =>
                float.TryParse(n, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) && float.IsFinite(values[i])).All(ok => ok))
            throw Malformed($"a region is @x,y,w,h, four numbers in image pixels; got '@{Text.Shorten(text)}' in '{Text.Shorten(spec)}'.");
        if (values[2] <= 0 || values[3] <= 0)
            throw Malformed($"a region's width and height must be positive; got '@{Text.Shorten(text)}' in '{Text.Shorten(spec)}'.");
        return new PixelRegion(values[0], values[1], values[2], values[3]);
    }

    private static InferenceException Malformed(string detail) =>
        new(ErrorKind.BadInput, "Malformed ablate", $"ablate is {Syntax}: {detail}");
}
