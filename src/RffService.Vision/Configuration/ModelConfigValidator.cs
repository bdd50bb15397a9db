using System.Text.Json;

namespace RffService.Vision.Configuration;

/// <summary>
/// Checks a model config for mistakes, with messages that say what to fix: its form and limits against
/// <see cref="ModelConfigSchema"/>, then what a schema cannot say (how fields fit together).
/// </summary>
public static class ModelConfigValidator
{
    /// <summary>A config.json's text: the schema's errors name the place in the file; null config when it is invalid.</summary>
    public static (ModelConfig? Config, IReadOnlyList<string> Errors) Read(string json)
    {
        using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var errors = ModelConfigSchema.Check(document.RootElement);
        if (errors.Count > 0) return (null, errors);
        var config = document.RootElement.Deserialize<ModelConfig>(ModelConfig.JsonOptions)!;
        var rules = CrossFieldErrors(config);
        return rules.Count > 0 ? (null, rules) : (config, []);
    }

    /// <summary>A config built in code (inferred from a model's file or written by the trainer).</summary>
    public static IReadOnlyList<string> Validate(ModelConfig config)
    {
        if (config.Input.Mean.Concat(config.Input.Std).Any(v => !float.IsFinite(v)))
            return ["input.mean and input.std values must be finite."];
        var errors = ModelConfigSchema.Check(JsonSerializer.SerializeToElement(config, ModelConfig.JsonOptions)).ToList();
        errors.AddRange(CrossFieldErrors(config));
        return errors;
    }

    /// <summary>Service-wide batching defaults obey the same limits as a config.json's "batching" section.</summary>
    public static IReadOnlyList<string> ValidateBatching(BatchingConfig batching) =>
        Validate(new ModelConfig { Task = ModelTasks.Classification, Labels = ["any"], Input = new InputConfig { Width = 1, Height = 1 }, Batching = batching });

    private static List<string> CrossFieldErrors(ModelConfig config)
    {
        var errors = new List<string>();
        var input = config.Input;
        if (input.Mean.Count is not 1 && input.Mean.Count != input.Channels || input.Std.Count is not 1 && input.Std.Count != input.Channels)
            errors.Add($"input.mean and input.std must have one value for all channels or one per channel ({input.Channels}).");
        if (config.Task == ModelTasks.Detection && input.DynamicSize)
            errors.Add("input.dynamicSize is not supported for detection models (the priors assume one input size).");
        return errors;
    }
}
