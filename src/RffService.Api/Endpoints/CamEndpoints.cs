using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using RffService.Api.Contracts;
using RffService.Api.Input;
using RffService.Inference;
using RffService.Inference.Explanations;

namespace RffService.Api.Endpoints;

public static class CamEndpoints
{
    private const string Description =
        "Methods: `cam` (exact decomposition of the score; layers followed only by linear ops), `gradcam`, `gradcampp`, `layercam` " +
        "(any layer), `scorecam` (masked inputs, batched), `ablationcam` (channels switched off, batched). Send `Accept: image/png` " +
        "to get the overlay PNG itself instead of JSON.";

    public static IEndpointRouteBuilder MapCamEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/cam").WithTags("Explanations");
        group.MapGet("/", ExplainCachedAsync)
            .WithName("CamForImageId")
            .WithSummary("Explain an image classified earlier, by its imageId")
            .WithDescription(Description + " The imageId comes from a /classify response; images are kept for a while (bounded cache).")
            .Produces<CamResponse>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/", ExplainUploadAsync)
            .WithName("CamForImage")
            .WithSummary("Explain an image sent in the request")
            .WithDescription(Description + " The image is sent as for /classify (multipart, raw body or base64 JSON; one image).")
            .Produces<CamResponse>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .AcceptsImageBody();
        return app;
    }

    /// <summary>Explains a cached image.</summary>
    /// <param name="context">The HTTP context.</param>
    /// <param name="cache">Recently seen images.</param>
    /// <param name="cam">The explanation service.</param>
    /// <param name="imageId">The imageId of an earlier /classify response.</param>
    /// <param name="model">Model name; the default classifier when empty.</param>
    /// <param name="target">Class label or index to explain; the top-1 class when empty.</param>
    /// <param name="method">cam, gradcam (default), gradcampp, layercam, scorecam or ablationcam.</param>
    /// <param name="layer">RFF layer name or index (GET /models lists camLayers); the last when empty.</param>
    /// <param name="alpha">Overlay opacity, 0..1 (default 0.5).</param>
    /// <param name="colormap">jet (default), viridis, inferno or gray.</param>
    /// <param name="baseline">blank (default): explain relative to a blank image of the input's border colour; none: raw activations.</param>
    /// <param name="faithfulness">Compute averageDrop, increaseInConfidence and deletionAuc (default true).</param>
    private static IResult ExplainCachedAsync(HttpContext context, ImageCache cache, CamService cam,
        [FromQuery] string? imageId, [FromQuery] string? model, [FromQuery] string? target, [FromQuery] string? method,
        [FromQuery] string? layer, [FromQuery] float? alpha, [FromQuery] string? colormap, [FromQuery] string? baseline,
        [FromQuery] bool? faithfulness)
    {
        if (string.IsNullOrWhiteSpace(imageId))
            throw new InferenceException(ErrorKind.BadInput, "Missing imageId", "GET /cam needs ?imageId= from a /classify response; or POST the image to /cam.");
        var bytes = cache.Get(imageId) ?? throw new InferenceException(ErrorKind.NotFound, "Unknown image",
            $"No image with id '{(imageId.Length > 64 ? imageId[..64] + "..." : imageId)}' is cached (unknown or expired). Send the image again to /classify, or POST it to /cam.");
        return Respond(context, cam.Explain(bytes, Request(model, target, method, layer, alpha, colormap, baseline, faithfulness)));
    }

    /// <summary>Explains an uploaded image.</summary>
    /// <param name="context">The HTTP context (the body holds the image).</param>
    /// <param name="reader">Reads the three input forms.</param>
    /// <param name="cam">The explanation service.</param>
    /// <param name="model">Model name; the default classifier when empty.</param>
    /// <param name="target">Class label or index to explain; the top-1 class when empty.</param>
    /// <param name="method">cam, gradcam (default), gradcampp, layercam, scorecam or ablationcam.</param>
    /// <param name="layer">RFF layer name or index (GET /models lists camLayers); the last when empty.</param>
    /// <param name="alpha">Overlay opacity, 0..1 (default 0.5).</param>
    /// <param name="colormap">jet (default), viridis, inferno or gray.</param>
    /// <param name="baseline">blank (default): explain relative to a blank image of the input's border colour; none: raw activations.</param>
    /// <param name="faithfulness">Compute averageDrop, increaseInConfidence and deletionAuc (default true).</param>
    /// <param name="cancellationToken">Request aborted.</param>
    private static async Task<IResult> ExplainUploadAsync(HttpContext context, ImageRequestReader reader, CamService cam,
        [FromQuery] string? model, [FromQuery] string? target, [FromQuery] string? method,
        [FromQuery] string? layer, [FromQuery] float? alpha, [FromQuery] string? colormap, [FromQuery] string? baseline,
        [FromQuery] bool? faithfulness, CancellationToken cancellationToken)
    {
        var images = await reader.ReadAsync(context.Request, cancellationToken);
        if (images.Count != 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "One image", $"POST /cam explains one image; the request holds {images.Count}.");
        return Respond(context, cam.Explain(images[0], Request(model, target, method, layer, alpha, colormap, baseline, faithfulness)));
    }

    private static CamRequest Request(string? model, string? target, string? method, string? layer, float? alpha, string? colormap,
        string? baseline, bool? faithfulness) =>
        new(model, target, method ?? "gradcam", layer, alpha ?? 0.5f, colormap ?? "jet", baseline ?? "blank", faithfulness ?? true);

    private static IResult Respond(HttpContext context, CamResult result)
    {
        context.Items[RequestLogging.ModelItem] = result.Model;
        bool wantsPng = context.Request.GetTypedHeaders().Accept
            .Any(a => a.MediaType.Equals("image/png", StringComparison.OrdinalIgnoreCase) && a.Quality is not 0);
        bool wantsJson = context.Request.GetTypedHeaders().Accept
            .Any(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase));
        return wantsPng && !wantsJson ? TypedResults.File(result.OverlayPng, "image/png") : TypedResults.Ok(CamResponse.From(result));
    }
}
