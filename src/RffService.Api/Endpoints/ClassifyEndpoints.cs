using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using RffService.Api.Input;
using RffService.Inference.Classification;
using RffService.Inference.Explanations;

namespace RffService.Api.Endpoints;

/// <summary>The query of POST /classify.</summary>
/// <param name="Model">Model name (GET /models lists them); the default classifier when empty.</param>
/// <param name="TopK">How many classes to return, most probable first (at least 1; more than the model has returns all).</param>
/// <param name="Ablate">Switch activations off first: &lt;layer&gt;:&lt;what&gt;[@x,y,w,h][=blank], several joined with ;, where &lt;what&gt; is all, top&lt;K&gt; or channel indices joined with commas (docs/explanations.md).</param>
public sealed record ClassifyQuery(
    [property: FromQuery(Name = "model")] string? Model = null,
    [property: FromQuery(Name = "topK")] int TopK = 5,
    [property: FromQuery(Name = "ablate")] string? Ablate = null);

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
                             "`{\"images\": [...]}`. One image gives one result object; a batch gives an array of them, in order. " +
                             "`ablate=` switches activations off mid-network: the answer is the intervened network's, with `intervention`, " +
                             "`original` and `changes`.")
            .Produces<ClassificationResult>(StatusCodes.Status200OK)
            .WithMetadata(new Swagger.BatchResultMetadata(typeof(ClassificationResult)))
            .AcceptsImageBody();
        return app;
    }

    /// <summary>Classifies images with an RFF-CNN (or any classification model of the repository).</summary>
    private static async Task<Results<Ok<ClassificationResult>, Ok<IReadOnlyList<ClassificationResult>>>> ClassifyAsync(
        HttpContext context, ImageRequestReader reader, ClassificationService classifier, InterventionService interventions,
        [AsParameters] ClassifyQuery query, CancellationToken cancellationToken)
    {
        var ablations = Ablation.ParseList(query.Ablate);
        var images = await reader.ReadAsync(context.Request, cancellationToken);
        var results = ablations.Count > 0
            ? await interventions.ClassifyAsync(images, query.Model, query.TopK, ablations, cancellationToken)
            : await classifier.ClassifyAsync(images, query.Model, query.TopK, cancellationToken);
        return images.Count == 1 ? TypedResults.Ok(results[0]) : TypedResults.Ok(results);
    }
}
