using Microsoft.AspNetCore.Mvc;
using RffService.Api.Input;
using RffService.Inference.Classification;

namespace RffService.Api.Endpoints;

public static class ClassifyEndpoints
{
    public static IEndpointRouteBuilder MapClassifyEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/classify", ClassifyAsync)
            .WithName("Classify")
            .WithTags("Inference")
            .WithSummary("Classify one image or a batch of images")
            .WithDescription("Send the image as multipart/form-data (field `image`; several files make a batch), as a raw body " +
                             "(image/png, image/jpeg, image/webp, image/bmp, image/gif) or as JSON `{\"image\": \"<base64>\"}` / " +
                             "`{\"images\": [...]}`. One image gives one result object; a batch gives an array of them, in order.")
            .Produces<ClassificationResult>(StatusCodes.Status200OK)
            .AcceptsImageBody();
        return app;
    }

    /// <summary>Classifies images with an RFF-CNN (or any classification model of the repository).</summary>
    /// <param name="context">The HTTP context (the body holds the image or images).</param>
    /// <param name="reader">Reads the three input forms.</param>
    /// <param name="classifier">The classification service.</param>
    /// <param name="model">Model name (GET /models lists them); the default classifier when empty.</param>
    /// <param name="topK">How many classes to return, most probable first (at least 1; more than the model has returns all).</param>
    /// <param name="cancellationToken">Request aborted.</param>
    private static async Task<IResult> ClassifyAsync(
        HttpContext context,
        ImageRequestReader reader,
        ClassificationService classifier,
        [FromQuery] string? model,
        [FromQuery] int? topK,
        CancellationToken cancellationToken)
    {
        var images = await reader.ReadAsync(context.Request, cancellationToken);
        var results = await classifier.ClassifyAsync(images, model, topK ?? 5, cancellationToken);
        context.Items[RequestLogging.ModelItem] = results[0].Model;
        return images.Count == 1 ? TypedResults.Ok(results[0]) : TypedResults.Ok(results);
    }
}
