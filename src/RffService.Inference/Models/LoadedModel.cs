using RffService.Inference.Runtime;
using RffService.Onnx;

namespace RffService.Inference.Models;

/// <summary>A model of the repository: its config, the version chosen, and its load state.</summary>
public sealed class LoadedModel
{
    public required string Name { get; init; }
    public required string Directory { get; init; }
    public ModelConfig? Config { get; init; }
    public int? Version { get; init; }
    public IReadOnlyList<int> Versions { get; init; } = [];
    /// <summary>config.json and the highest version's model file (size, time): a change means a reload.</summary>
    public string Fingerprint { get; init; } = "";

    public ModelState State { get; internal set; } = ModelState.Loading;
    public string? Error { get; internal set; }
    public ModelSession? Session { get; internal set; }
    public IReadOnlyList<RffLayerInfo> RffLayers { get; internal set; } = [];
    /// <summary>For detection models: reads the outputs into detections.</summary>
    public Detection.IDetectionDecoder? Detector { get; internal set; }
    /// <summary>False when the detector's outputs have no batch axis (one image per run).</summary>
    public bool DetectorBatches { get; internal set; } = true;
    /// <summary>Queues single images into batched runs; null when batching is off for this model.</summary>
    public Batching.DynamicBatcher? Batcher { get; internal set; }
    public string? ExecutionProvider => Session?.ExecutionProvider;

    /// <summary>The model read as a managed network for explanations, or null (see <see cref="ExplanationError"/>).</summary>
    public Explanations.ExplainableModel? Explainer { get; internal set; }
    public string? ExplanationError { get; internal set; }
}
