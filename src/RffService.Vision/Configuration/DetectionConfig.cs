namespace RffService.Vision.Configuration;

/// <summary>
/// The detection part of a model's config.json: which outputs hold what, and how to turn them into boxes.
/// </summary>
public sealed record DetectionConfig
{
    public const string RawLayout = "ssd";
    public const string DecodedLayout = "decoded";

    /// <summary>
    /// <c>ssd</c>: raw class scores [N, A, K+1] and centre-size box offsets [N, A, 4] against priors (decoded and suppressed here);
    /// <c>decoded</c>: the graph already decodes and suppresses and outputs boxes [N, D, 4], labels [N, D] and scores [N, D].
    /// </summary>
    public string Layout { get; init; } = RawLayout;
    public string ScoresOutput { get; init; } = "scores";
    public string BoxesOutput { get; init; } = "boxes";

    // ssd layout
    /// <summary>Index of the background class on the score axis (K + 1 scores; the labels list the K others in order).</summary>
    public int BackgroundClass { get; init; }
    /// <summary>True when the scores are already probabilities (no softmax is applied).</summary>
    public bool ScoresAreProbabilities { get; init; }
    /// <summary>Centre-size encoding variances (x, y, w, h), as in SSD.</summary>
    public IReadOnlyList<float> Variances { get; init; } = [0.1f, 0.1f, 0.2f, 0.2f];
    public PriorConfig Priors { get; init; } = new();
    /// <summary>
    /// After the per-class suppression, drop a box that overlaps a better kept box of any class by more than this IoU
    /// (one object, one label); null: per-class suppression only, as torchvision's batched NMS.
    /// </summary>
    public float? CrossClassIou { get; init; }

    // decoded layout
    public string LabelsOutput { get; init; } = "labels";
    /// <summary><c>xyxy</c> (x_min, y_min, x_max, y_max) or <c>yxyx</c> (TensorFlow's y_min, x_min, y_max, x_max).</summary>
    public string BoxFormat { get; init; } = "xyxy";
    /// <summary>True when box coordinates are fractions of the input size; false for input pixels.</summary>
    public bool Normalized { get; init; } = true;
    /// <summary>Subtracted from the model's label ids to index the labels list (1 when the model counts background as 0).</summary>
    public int LabelOffset { get; init; }
}

/// <summary>
/// Default boxes: a recipe (one entry per feature map, scales spaced linearly between <see cref="MinScale"/> and
/// <see cref="MaxScale"/>) in one of two styles, or an explicit list of (cx, cy, w, h) boxes, fractions of the input.
/// </summary>
public sealed record PriorConfig
{
    public const string SsdStyle = "ssd", TorchvisionStyle = "torchvision";

    /// <summary>
    /// <c>ssd</c>: the SSD paper's recipe (the extra square of the last map uses the next scale in line, at most 1;
    /// clipping clips the box to the image). <c>torchvision</c>: torchvision's DefaultBoxGenerator exactly (scale 1.0
    /// appended after the last map; clipping clamps width and height to [0, 1], centres unchanged; optional steps).
    /// </summary>
    public string Style { get; init; } = SsdStyle;
    public IReadOnlyList<FeatureMapConfig> FeatureMaps { get; init; } = [];
    public float MinScale { get; init; } = 0.2f;
    public float MaxScale { get; init; } = 0.9f;
    /// <summary>Explicit scales instead of min and max: one per map plus the one after the last (torchvision's <c>scales</c>).</summary>
    public IReadOnlyList<float>? Scales { get; init; }
    /// <summary>torchvision style: the stride of each map's cells in model-input pixels (torchvision's <c>steps</c>); cells tile the input exactly when absent.</summary>
    public IReadOnlyList<int>? Steps { get; init; }
    /// <summary>Clip priors to the image.</summary>
    public bool Clip { get; init; }
    /// <summary>Explicit priors (cx, cy, w, h); when given, the recipe is not used.</summary>
    public IReadOnlyList<IReadOnlyList<float>>? Boxes { get; init; }
}

/// <summary>One feature map of the recipe: its size and the aspect ratios r (each r != 1 adds boxes r and 1/r).</summary>
public sealed record FeatureMapConfig
{
    public int Width { get; init; }
    public int Height { get; init; }
    public IReadOnlyList<float> AspectRatios { get; init; } = [2f];
}
