namespace RffService.Vision.Configuration;

/// <summary>Checks a model config for mistakes, with messages that say what to fix.</summary>
public static class ModelConfigValidator
{
    public static IReadOnlyList<string> Validate(ModelConfig config)
    {
        var errors = new List<string>();
        if (config.Task is not ("classification" or "detection"))
            errors.Add($"task must be 'classification' or 'detection', got '{config.Task}'.");
        if (config.Labels.Count == 0)
            errors.Add("labels must list at least one class label.");
        if (config.Labels.Any(string.IsNullOrWhiteSpace))
            errors.Add("labels must not contain empty names.");

        var input = config.Input;
        if (input.Width is < 1 or > 8192 || input.Height is < 1 or > 8192)
            errors.Add($"input.width and input.height must be between 1 and 8192, got {input.Width}x{input.Height}.");
        if (input.Channels is not (1 or 3))
            errors.Add($"input.channels must be 1 (gray) or 3 (RGB), got {input.Channels}.");
        if (!string.Equals(input.Layout, "NCHW", StringComparison.OrdinalIgnoreCase))
            errors.Add($"input.layout must be NCHW, got '{input.Layout}'.");
        if (input.Resize is not ("stretch" or "letterbox"))
            errors.Add($"input.resize must be 'stretch' or 'letterbox', got '{input.Resize}'.");
        if (input.Mean.Count != input.Channels || input.Std.Count != input.Channels)
            errors.Add($"input.mean and input.std must have one value per channel ({input.Channels}).");
        if (input.Std.Any(s => !(s > 0) || !float.IsFinite(s)))
            errors.Add("input.std values must be finite and > 0.");
        if (input.MaxWidth is < 1 or > 8192 || input.MaxHeight is < 1 or > 8192)
            errors.Add("input.maxWidth and input.maxHeight must be between 1 and 8192.");
        if (input.Mean.Any(m => !float.IsFinite(m)))
            errors.Add("input.mean values must be finite.");
        if (config.Batching is { } batching &&
            (batching.MaxBatchSize is < 1 or > 1024 || batching.MaxQueueDelayMicroseconds is < 0 or > 10_000_000 || batching.MaxQueueSize is < 1))
            errors.Add("batching: maxBatchSize must be 1-1024, maxQueueDelayMicroseconds 0-10000000, maxQueueSize >= 1.");
        if (config.Task == "detection")
        {
            if (config.Detection is null)
                errors.Add("a detection model needs a 'detection' section (layout, output names, priors or box format).");
            if (input.DynamicSize)
                errors.Add("input.dynamicSize is not supported for detection models (the priors assume one input size).");
        }
        return errors;
    }
}
