using Microsoft.AspNetCore.Mvc;
using RffService.Api.Input;
using RffService.Inference.Detection;

namespace RffService.Api.Endpoints;

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
                             "The imageId works with GET /cam. `overlay=true` adds a base64 PNG with the boxes, labels and scores drawn.")
            .Produces<DetectionResult>(StatusCodes.Status200OK)
            .AcceptsImageBody();
        return app;
    }

    /// <summary>Detects objects with an SSD-style detector of the repository.</summary>
    /// <param name="context">The HTTP context (the body holds the image or images).</param>
    /// <param name="reader">Reads the three input forms.</param>
    /// <param name="detector">The detection service.</param>
    /// <param name="model">Model name (GET /models lists them); the first ready detection model when empty.</param>
    /// <param name="scoreThreshold">Smallest class probability kept, 0..1 (default 0.3).</param>
    /// <param name="iouThreshold">Non-maximum suppression overlap, 0..1: a box overlapping a better one of its class by more is dropped (default 0.45).</param>
    /// <param name="maxDetections">Most detections per image, 1..1000 (default 100).</param>
    /// <param name="classes">Comma-separated labels or class indices to keep (default: all).</param>
    /// <param name="overlay">Also return the image with the detections drawn, as base64 PNG (default false).</param>
    /// <param name="cancellationToken">Request aborted.</param>
    private static async Task<IResult> DetectAsync(
        HttpContext context,
        ImageRequestReader reader,
        DetectionService detector,
        [FromQuery] string? model,
        [FromQuery] float? scoreThreshold,
        [FromQuery] float? iouThreshold,
        [FromQuery] int? maxDetections,
        [FromQuery] string? classes,
        [FromQuery] bool? overlay,
        CancellationToken cancellationToken)
    {
        var images = await reader.ReadAsync(context.Request, cancellationToken);
        var results = await detector.DetectAsync(images, model, scoreThreshold ?? 0.3f, iouThreshold ?? 0.45f, maxDetections ?? 100,
            classes?.Split(','), overlay ?? false, cancellationToken);
        context.Items[RequestLogging.ModelItem] = results[0].Model;
        return images.Count == 1 ? TypedResults.Ok(results[0]) : TypedResults.Ok(results);
    }
}
