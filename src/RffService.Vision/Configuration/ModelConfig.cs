using System.Text.Json.Serialization;
using System.Text.Json;

namespace RffService.Vision.Configuration;

/// <summary>What a model does: the contents of models/&lt;name&gt;/config.json.</summary>
public sealed record ModelConfig
{
    /// <summary>classification or detection.</summary>
    public string Task { get; init; } = "";
    public string? Description { get; init; }
    /// <summary>False for a model whose weights were never trained (a placeholder).</summary>
    public bool Trained { get; init; } = true;
    public IReadOnlyList<string> Labels { get; init; } = [];
    public InputConfig Input { get; init; } = new();
    public OutputConfig Output { get; init; } = new();
    /// <summary>Dynamic batching overrides for this model (maxBatchSize, maxQueueDelayMicroseconds, maxQueueSize, enabled).</summary>
    public BatchingConfig? Batching { get; init; }
    /// <summary>For detection models: output layout, priors, variances.</summary>
    public DetectionConfig? Detection { get; init; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };
}

/// <summary>How images become the model's input tensor.</summary>
public sealed record InputConfig
{
    /// <summary>Input tensor name; null takes the model's first input.</summary>
    public string? Name { get; init; }
    public int Width { get; init; }
    public int Height { get; init; }
    /// <summary>1 (gray) or 3 (RGB).</summary>
    public int Channels { get; init; } = 3;
    /// <summary>NCHW, or NHWC (channels last): the service prepares NCHW tensors and transposes them for an NHWC model.</summary>
    public string Layout { get; init; } = "NCHW";

    /// <summary>True for a channels-last (NHWC) input.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool ChannelsLast => string.Equals(Layout, "NHWC", StringComparison.OrdinalIgnoreCase);
    /// <summary>Per-channel mean, applied to pixels scaled to [0, 1].</summary>
    public IReadOnlyList<float> Mean { get; init; } = [0f];
    /// <summary>Per-channel standard deviation.</summary>
    public IReadOnlyList<float> Std { get; init; } = [1f];
    /// <summary>stretch or letterbox.</summary>
    public string Resize { get; init; } = "stretch";
    /// <summary>What images the model was trained on, in words for users (for example "one item, light on dark").</summary>
    public string? Expects { get; init; }
    /// <summary>
    /// True for a fully convolutional model that runs at the image's own size (width and height are then the nominal,
    /// training size). Images larger than <see cref="MaxWidth"/> x <see cref="MaxHeight"/> are scaled down to fit.
    /// </summary>
    public bool DynamicSize { get; init; }
    /// <summary>Largest width a dynamic-size model runs at (default 4 x width).</summary>
    public int? MaxWidth { get; init; }
    /// <summary>Largest height a dynamic-size model runs at (default 4 x height).</summary>
    public int? MaxHeight { get; init; }
}

/// <summary>Which output to read and what it holds.</summary>
public sealed record OutputConfig
{
    /// <summary>Output tensor name; null takes the model's first output.</summary>
    public string? Name { get; init; }
    /// <summary>True when the output already holds probabilities (no softmax is applied).</summary>
    public bool Probabilities { get; init; }
}
