using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;

namespace RffService.Api.Contracts;

/// <summary>A class activation map for one image.</summary>
/// <param name="ImageId">Content hash of the image explained.</param>
/// <param name="Model">Model name.</param>
/// <param name="Version">Model version.</param>
/// <param name="Method">The method used (a name from camMethods in GET /models).</param>
/// <param name="Layer">RFF layer the map was computed on.</param>
/// <param name="Target">The class explained, with its probability.</param>
/// <param name="Detection">The detection explained (with /cam's detection parameter), or absent.</param>
/// <param name="Overlay">Base64 PNG at the original image's size: the coloured map blended onto the image.</param>
/// <param name="Heatmap">Base64 grayscale PNG at the original size: the map, 0 (black) to 1 (white).</param>
/// <param name="Faithfulness">Average drop, increase in confidence and deletion AUC of this map (absent with faithfulness=false).</param>
/// <param name="Timings">Milliseconds per stage.</param>
/// <param name="Gamma">The contrast the map was normalised with (values in [0, 1] raised to this power).</param>
/// <param name="Intervention">With ablate: what was switched off; the map, target and faithfulness are then the intervened network's.</param>
public sealed record CamResponse(
    string ImageId,
    string Model,
    int Version,
    string Method,
    string Layer,
    Prediction Target,
    Detection? Detection,
    string Overlay,
    string Heatmap,
    FaithfulnessScores? Faithfulness,
    CamTimings Timings,
    float Gamma,
    InterventionReport? Intervention = null) : IModelResult
{
    public static CamResponse From(CamResult result) => new(result.ImageId, result.Model, result.Version, result.Method, result.Layer,
        result.Target, result.Detection, Convert.ToBase64String(result.OverlayPng), Convert.ToBase64String(result.HeatmapPng), result.Faithfulness, result.Timings,
        result.Gamma, result.Intervention);
}
