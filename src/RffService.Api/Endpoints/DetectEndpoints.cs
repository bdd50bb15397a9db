using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using RffService.Api.Input;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Vision;

namespace RffService.Api.Endpoints;

/// <summary>The query of POST /detect.</summary>
/// <param name="Model">Model name (GET /models lists them); the first ready detection model when empty.</param>
/// <param name="ScoreThreshold">Smallest class probability kept, 0..1 (default 0.3).</param>
/// <param name="IouThreshold">Non-maximum suppression overlap, 0..1: a box overlapping a better one of its class by more is dropped (default 0.45).</param>
/// <param name="MaxDetections">Most detections per image, 1..1000 (default 100).</param>
/// <param name="Classes">Comma-separated labels or class indices to keep (default: all).</param>
/// <param name="Overlay">Also return the image with the detections drawn, as base64 PNG (default false).</param>
/// <param name="Ablate">Switch activations off first: &lt;layer&gt;:&lt;what&gt;[@x,y,w,h][=blank], several joined with ;, where &lt;what&gt; is all, top&lt;K&gt; or channel indices joined with commas (docs/explanations.md).</param>
public sealed record DetectQuery(
    [property: FromQuery(Name = "model")] string? Model = null,
    [property: FromQuery(Name = "scoreThreshold")] float ScoreThreshold = DetectionRequest.DefaultScoreThreshold,
    [property: FromQuery(Name = "iouThreshold")] float IouThreshold = DetectionRequest.DefaultIouThreshold,
    [property: FromQuery(Name = "maxDetections")] int MaxDetections = DetectionRequest.DefaultMaxDetections,
    [property: FromQuery(Name = "classes")] string? Classes = null,
    [property: FromQuery(Name = "overlay")] bool Overlay = false,
    [property: FromQuery(Name = "ablate")] string? Ablate = null)
{
    public DetectionRequest ToRequest() => new(ScoreThreshold, IouThreshold, MaxDetections, Classes?.Split(','), Overlay);
}

public static class DetectEndpoints
{
    public static IEndpointRouteBuilder MapDetectEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/detect", DetectAsync)
            .WithName("Detect")
            .WithTags("Inference")
            .WithSummary("Detect objects in one image or a batch of images")
            .WithDescription("Send the image as for /classify (multipart, raw body or base64 JSON). Boxes are in the original image's " +
                             "pixels (after EXIF orientation). One image gives one result object; a batch gives an array, in order. " +
                             "The imageId works with GET /cam. `overlay=true` adds a base64 PNG with the boxes, labels and scores drawn; " +
                             "`Accept: image/png` answers with that PNG itself (one image). `ablate=` switches activations off mid-network: the " +
                             "detections are the intervened network's, with `intervention`, `original` and `changes`.")
            .Produces<DetectionResult>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .WithMetadata(new Swagger.BatchResultMetadata(typeof(DetectionResult)))
            .AcceptsImageBody();
        return app;
    }

    /// <summary>Detects objects with an SSD-style detector of the repository.</summary>
    private static async Task<Results<Ok<DetectionResult>, Ok<IReadOnlyList<DetectionResult>>, PngResult>> DetectAsync(
        HttpContext context, ImageRequestReader reader, DetectionService detector, InterventionService interventions,
        [AsParameters] DetectQuery query, CancellationToken cancellationToken)
    {
        var ablations = Ablation.ParseList(query.Ablate);
        var images = await reader.ReadAsync(context.Request, cancellationToken);
        bool png = PngResult.Wanted(context.Request);
        if (png && images.Count != 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "One image",
                $"Accept: image/png answers with the overlay of one image; the request holds {images.Count}. Ask for JSON to detect a batch.");
        var request = png ? query.ToRequest() with { Overlay = true } : query.ToRequest();
        var results = ablations.Count > 0
            ? await interventions.DetectAsync(images, query.Model, request, ablations, cancellationToken)
            : await detector.DetectAsync(images, query.Model, request, cancellationToken);
        if (png) return new PngResult(results[0].Overlay!, results[0].Model);
        return images.Count == 1 ? TypedResults.Ok(results[0]) : TypedResults.Ok(results);
    }
}
