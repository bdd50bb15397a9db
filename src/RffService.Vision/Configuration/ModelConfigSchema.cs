using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace RffService.Vision.Configuration;

/// <summary>
/// docs/model-config.schema.json, embedded: the one home of config.json's form and limits. The service checks every
/// config against it, whether read from config.json or inferred from the model's file.
/// </summary>
public static class ModelConfigSchema
{
    private static readonly Lazy<string> Text = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("model-config.schema.json")
            ?? throw new InvalidOperationException("The embedded model-config.schema.json is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(Text.Value));
    private static readonly Lazy<JsonNode> Node = new(() => JsonNode.Parse(Text.Value)!);

    /// <summary>What in the JSON breaks the schema, one line per error with its place ("/input/width: ..."); empty when valid.</summary>
    public static IReadOnlyList<string> Check(JsonElement json)
    {
        var result = Schema.Value.Evaluate(json, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid) return [];
        var errors = (result.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{Place(d.InstanceLocation.ToString())}: {e.Value}{Allowed(d.SchemaLocation, e.Key)}"))
            .Distinct()
            .ToList();
        return errors.Count > 0 ? errors : ["the config does not match docs/model-config.schema.json."];
    }

    /// <summary>For enum and const errors, the values the schema allows (its messages do not say).</summary>
    private static string Allowed(Uri schemaLocation, string keyword)
    {
        if (keyword is not ("enum" or "const")) return "";
        JsonNode? node = Node.Value;
        foreach (var part in Uri.UnescapeDataString(schemaLocation.Fragment).TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
            node = node?[part];
        return node?[keyword] switch
        {
            JsonArray values => " (one of: " + string.Join(", ", values.Select(v => v?.ToJsonString())) + ")",
            JsonNode value => $" ({value.ToJsonString()})",
            null => "",
        };
    }

    private static string Place(string pointer) => pointer is "" or "#" ? "(top level)" : pointer.TrimStart('#');
}
