using RffService.Inference.Common;

namespace RffService.Inference.Detection;

/// <summary>A box in the original image's pixels: top-left corner and size.</summary>
public sealed record PixelBox(float X, float Y, float Width, float Height);

/// <summary>A box as fractions of the original image's width and height.</summary>
public sealed record NormalizedBox(float XMin, float YMin, float XMax, float YMax);

/// <summary>One detected object.</summary>
/// <param name="Label">Class label from the model's config.</param>
/// <param name="ClassIndex">Index of the label in the model's labels (background excluded).</param>
/// <param name="Score">Class probability, 0..1.</param>
/// <param name="Box">Box in the original image's pixels.</param>
/// <param name="BoxNormalized">The same box as fractions of the original image size.</param>
public sealed record Detection(string Label, int ClassIndex, float Score, PixelBox Box, NormalizedBox BoxNormalized);

/// <summary>The detections in one image.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Version">Model version that answered.</param>
/// <param name="ImageId">Content hash of the image bytes, usable with GET /cam.</param>
/// <param name="Width">Original image width (after EXIF orientation), in pixels.</param>
/// <param name="Height">Original image height, in pixels.</param>
/// <param name="Detections">Detections, best score first.</param>
/// <param name="Overlay">PNG of the image with the detections drawn, when asked for (base64 in JSON).</param>
/// <param name="ExecutionProvider">ONNX Runtime execution provider that ran the model.</param>
/// <param name="Timings">Timings in milliseconds.</param>
/// <param name="Intervention">With ablate: what was switched off (the detections are then those of the intervened network).</param>
/// <param name="Original">With ablate: the detections without the intervention.</param>
/// <param name="Changes">With ablate: which detections appeared, vanished or changed score.</param>
public sealed record DetectionResult(
    string Model,
    int Version,
    string ImageId,
    int Width,
    int Height,
    IReadOnlyList<Detection> Detections,
    byte[]? Overlay,
    string ExecutionProvider,
    Timings Timings,
    InterventionReport? Intervention = null,
    IReadOnlyList<Detection>? Original = null,
    DetectionChanges? Changes = null) : IModelResult;

/// <summary>How an intervention changed the detections: matched by class and box overlap (IoU at least 0.5).</summary>
/// <param name="Appeared">Detections only the intervened network makes.</param>
/// <param name="Vanished">Detections only the original network makes.</param>
/// <param name="Changed">Detections both make, with the score of each.</param>
public sealed record DetectionChanges(IReadOnlyList<Detection> Appeared, IReadOnlyList<Detection> Vanished, IReadOnlyList<ChangedDetection> Changed);

/// <summary>A detection both networks make: the intervened one's box, and the score without and with the intervention.</summary>
public sealed record ChangedDetection(string Label, int ClassIndex, PixelBox Box, float Original, float Intervened, float Change);
