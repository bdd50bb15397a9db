using System.Text.Json;
using RffService.Vision;

namespace RffService.Api.OpenInference;

/// <summary>One input tensor of an inference request, flattened: FP32 numbers, or BYTES elements (encoded images).</summary>
public sealed record RequestTensor(string Name, string Datatype, long[] Shape, float[]? Numbers, IReadOnlyList<byte[]>? Bytes);

/// <summary>
/// An Open Inference Protocol (v2) inference request, whatever the transport: <c>id</c>, <c>inputs</c>, optional
/// <c>outputs</c> (names) and <c>parameters</c> (as invariant text). <see cref="Parse"/> reads the REST form (JSON:
/// data as a flat or nested row-major array, BYTES elements as base64 strings).
/// </summary>
public sealed record InferRequest(string? Id, IReadOnlyList<RequestTensor> Inputs, IReadOnlyList<string>? Outputs, IReadOnlyDictionary<string, string>? Parameters)
{
    public const int MaxShapeRank = 8;

    public static InferRequest Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Bad("The request body must be a JSON object.");
        string? id = root.TryGetProperty("id", out var idElement) ? idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : throw Bad("'id' must be a string.") : null;
        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array || inputs.GetArrayLength() == 0)
            throw Bad("'inputs' must be a non-empty array of tensors.");
        var tensors = inputs.EnumerateArray().Select(ParseTensor).ToList();
        List<string>? outputs = null;
        if (root.TryGetProperty("outputs", out var outputsElement))
        {
            if (outputsElement.ValueKind != JsonValueKind.Array) throw Bad("'outputs' must be an array of {\"name\": ...} objects.");
            outputs = outputsElement.EnumerateArray().Select(o =>
                o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                    ? n.GetString()! : throw Bad("Each requested output must be an object with a string 'name'.")).ToList();
        }
        Dictionary<string, string>? parameters = null;
        if (root.TryGetProperty("parameters", out var p))
        {
            if (p.ValueKind != JsonValueKind.Object) throw Bad("'parameters' must be an object.");
            parameters = p.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.ValueKind switch
            {
                JsonValueKind.String => e.Value.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => e.Value.GetRawText(),
                _ => throw Bad($"Parameter '{Shorten(e.Name)}' must be a number, a string or a boolean."),
            });
        }
        return new InferRequest(id, tensors, outputs, parameters);
    }

    private static RequestTensor ParseTensor(JsonElement tensor)
    {
        if (tensor.ValueKind != JsonValueKind.Object) throw Bad("Each input must be a tensor object.");
        string name = String(tensor, "name");
        string datatype = String(tensor, "datatype");
        if (!tensor.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array || shapeElement.GetArrayLength() > MaxShapeRank)
            throw Bad($"Input '{name}': 'shape' must be an array of at most {MaxShapeRank} dimensions.");
        var shape = shapeElement.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v) && v >= 0
            ? v : throw Bad($"Input '{name}': shape dimensions must be non-negative integers.")).ToArray();
        if (!tensor.TryGetProperty("data", out var data)) throw Bad($"Input '{name}' has no 'data'.");

        var flat = new List<JsonElement>();
        Flatten(data, flat, name, depth: 0);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (flat.Count != count) throw Bad($"Input '{name}': shape [{string.Join(", ", shape)}] needs {count} values; 'data' holds {flat.Count}.");
        return datatype switch
        {
            "FP32" => new RequestTensor(name, datatype, shape, flat.Select(e => e.ValueKind == JsonValueKind.Number
                ? (float)e.GetDouble() : throw Bad($"Input '{name}' is FP32: every data element must be a number.")).ToArray(), null),
            "BYTES" => new RequestTensor(name, datatype, shape, null, flat.Select((e, i) => e.ValueKind == JsonValueKind.String
                ? Base64(e.GetString()!, i) : throw Bad($"Input '{name}' is BYTES: every data element must be a string.")).ToArray()),
            _ => throw Bad($"Input '{name}': datatype '{Shorten(datatype)}' is not supported here; send FP32 tensors or BYTES (base64-encoded images)."),
        };
    }

    private static void Flatten(JsonElement element, List<JsonElement> into, string name, int depth)
    {
        if (element.ValueKind != JsonValueKind.Array) { into.Add(element); return; }
        if (depth > MaxShapeRank) throw Bad($"Input '{name}': 'data' is nested deeper than {MaxShapeRank} levels.");
        foreach (var item in element.EnumerateArray()) Flatten(item, into, name, depth + 1);
    }

    private static string String(JsonElement tensor, string property) =>
        tensor.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Bad($"Each input needs a string '{property}'.");

    private static byte[] Base64(string text, int index)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw Bad($"BYTES element {index} is not base64 (send image files base64-encoded).");
        }
    }

    private static string Shorten(string text) => text.Length <= 32 ? text : text[..32] + "...";

    private static InferenceException Bad(string detail) => new(ErrorKind.BadInput, "Invalid inference request", detail);
}
