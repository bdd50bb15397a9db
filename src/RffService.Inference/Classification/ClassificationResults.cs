using RffService.Inference.Common;

namespace RffService.Inference.Classification;

/// <summary>One predicted class.</summary>
/// <param name="Label">Class label from the model's config.</param>
/// <param name="Index">Class index in the model's output.</param>
/// <param name="Probability">Softmax probability, 0..1.</param>
public sealed record Prediction(string Label, int Index, float Probability);

/// <summary>The classification of one image.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Version">Model version that answered.</param>
/// <param name="ImageId">Content hash of the image bytes; later requests (e.g. /cam) can refer to it.</param>
/// <param name="Predictions">Top-k classes, most probable first.</param>
/// <param name="ExecutionProvider">ONNX Runtime execution provider that ran the model.</param>
/// <param name="Timings">Timings in milliseconds.</param>
/// <param name="Intervention">With ablate: what was switched off (the predictions are then those of the intervened network).</param>
/// <param name="Original">With ablate: the top-k predictions without the intervention.</param>
/// <param name="Changes">With ablate: every class's probability without and with the intervention, in class order.</param>
public sealed record ClassificationResult(
    string Model,
    int Version,
    string ImageId,
    IReadOnlyList<Prediction> Predictions,
    string ExecutionProvider,
    Timings Timings,
    InterventionReport? Intervention = null,
    IReadOnlyList<Prediction>? Original = null,
    IReadOnlyList<ClassChange>? Changes = null) : IModelResult;

/// <summary>How an intervention changed one class's probability.</summary>
public sealed record ClassChange(string Label, int Index, float Original, float Intervened, float Change);
