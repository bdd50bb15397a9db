using System.Globalization;
using RffService.Onnx.Explanations;
using RffService.Vision;

namespace RffService.Inference.Explanations;

/// <summary>The layers requests name, as GET /models lists them: by name, tensor or index.</summary>
public static class CamLayerNames
{
    /// <summary>The layers of a /cam <c>layer</c> parameter: comma-separated names or indices, "all", or the default layer when empty.</summary>
    public static IReadOnlyList<CamLayer> Resolve(Explainer explainer, string? layer)
    {
        var usable = Usable(explainer);
        if (string.IsNullOrWhiteSpace(layer)) return [explainer.DefaultLayer!];
        if (layer.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return usable;
        var result = new List<CamLayer>();
        foreach (var part in layer.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var found = One(explainer, part, "layer", "a comma-separated list or 'all'");
            if (!result.Contains(found)) result.Add(found);
        }
        return result;
    }

    /// <summary>One usable layer by name, tensor or index; a 422 naming the choices, or the reason the layer cannot be used.</summary>
    public static CamLayer One(Explainer explainer, string name, string parameter, string? alternatives = null)
    {
        var usable = Usable(explainer);
        string part = name.Trim();
        var found = explainer.Layers.FirstOrDefault(l => l.Name == part || l.Tensor == part)
                    ?? (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && index < explainer.Layers.Count ? explainer.Layers[index] : null)
                    ?? throw Invalid("Unknown layer",
                        $"{parameter} must name a layer ({string.Join(", ", usable.Select(l => l.Name))}) or an index 0..{explainer.Layers.Count - 1}" +
                        (alternatives is null ? "" : ", " + alternatives) + $"; got '{Text.Shorten(part)}'.");
        if (!found.Usable) throw Invalid("Layer cannot be explained", $"Layer '{found.Name}' cannot be explained or intervened on: {found.Refusal}.");
        return found;
    }

    private static List<CamLayer> Usable(Explainer explainer)
    {
        var usable = explainer.Layers.Where(l => l.Usable).ToList();
        if (usable.Count == 0)
            throw Invalid("No layer can be explained", "The model has no layer that can be explained: " +
                string.Join("; ", explainer.Layers.Select(l => $"'{l.Name}': {l.Refusal}")) + ".");
        return usable;
    }

    private static InferenceException Invalid(string title, string detail) => new(ErrorKind.InvalidParameter, title, detail);
}
