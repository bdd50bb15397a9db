using RffService.Vision;

namespace RffService.Inference.Common;

/// <summary>How a request names a class: its label (case-insensitive; the first on duplicates) or its index.</summary>
public static class ClassNames
{
    /// <summary>The class's index; a name that is neither a label nor an index is a 422 naming the parameter.</summary>
    public static int IndexOf(string name, IReadOnlyList<string> labels, string parameter)
    {
        name = name.Trim();
        for (int i = 0; i < labels.Count; i++)
            if (string.Equals(labels[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        if (int.TryParse(name, out int index) && index >= 0 && index < labels.Count) return index;
        throw new InferenceException(ErrorKind.InvalidParameter, "Unknown class",
            $"{parameter} '{Text.Shorten(name)}' is not one of the model's labels ({Text.Shorten(string.Join(", ", labels), 400)}) or a class index 0..{labels.Count - 1}.");
    }
}
