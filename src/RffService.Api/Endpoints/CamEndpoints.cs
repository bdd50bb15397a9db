using Microsoft.AspNetCore.Mvc;
using RffService.Api.Contracts;
using RffService.Api.Input;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Vision;
using RffService.Vision.Configuration;

namespace RffService.Api.Endpoints;

/// <summary>The query of POST /cam (GET /cam adds the imageId).</summary>
/// <param name="Model">Model name; the default classifier (or, with a detection, the default detector) when empty.</param>
/// <param name="Target">Class label or index to explain; the top-1 class when empty (classifiers).</param>
/// <param name="Method">The explanation method, one of camMethods in GET /models (default: gradcam; layercam for a detection).</param>
/// <param name="Layer">Layer name or index (GET /models lists camLayers), several separated by commas, or all (their maps averaged); the default layer when empty.</param>
/// <param name="Alpha">Overlay opacity, 0..1 (default 0.5).</param>
/// <param name="Colormap">jet (default), viridis, inferno or gray.</param>
/// <param name="Baseline">blank (default): explain relative to a blank image of the input's border colour; none: raw activations.</param>
/// <param name="Faithfulness">Compute averageDrop, increaseInConfidence and deletionAuc (default true).</param>
/// <param name="Channels">scorecam and ablationcam: how many channels to score, those with the largest positive contribution (sum of ReLU(G) A; default 24), or all.</param>
/// <param name="Detection">Explain this detection of a detector (its index in the /detect answer with the same thresholds).</param>
/// <param name="ScoreThreshold">With detection: the /detect scoreThreshold the index refers to (default 0.3).</param>
/// <param name="IouThreshold">With detection: the /detect iouThreshold (default 0.45).</param>
/// <param name="MaxDetections">With detection: the /detect maxDetections (default 100).</param>
/// <param name="Classes">With detection: the /detect classes filter (default: all).</param>
/// <param name="Ablate">Explain the network with these activations switched off: &lt;layer&gt;:&lt;what&gt;[@x,y,w,h][=blank], several joined with ;, where &lt;what&gt; is all, top&lt;K&gt; or channel indices joined with commas (docs/explanations.md).</param>
/// <param name="Gamma">The map's contrast, above 0 and at most 10 (default 1; 0.7 for a detection): its values, normalised to 0..1, raised to this power before they are shown and the faithfulness figures are measured; below 1 widens the bright region, above 1 narrows it.</param>
public record CamQuery(
    [property: FromQuery(Name = "model")] string? Model = null,
    [property: FromQuery(Name = "target")] string? Target = null,
    [property: FromQuery(Name = "method")] string? Method = null,
    [property: FromQuery(Name = "layer")] string? Layer = null,
    [property: FromQuery(Name = "alpha")] float Alpha = CamRequest.DefaultAlpha,
    [property: FromQuery(Name = "colormap")] string Colormap = CamRequest.DefaultColormap,
    [property: FromQuery(Name = "baseline")] string Baseline = CamRequest.DefaultBaseline,
    [property: FromQuery(Name = "faithfulness")] bool Faithfulness = true,
    [property: FromQuery(Name = "channels")] string? Channels = null,
    [property: FromQuery(Name = "detection")] int? Detection = null,
    [property: FromQuery(Name = "scoreThreshold")] float ScoreThreshold = DetectionRequest.DefaultScoreThreshold,
    [property: FromQuery(Name = "iouThreshold")] float IouThreshold = DetectionRequest.DefaultIouThreshold,
    [property: FromQuery(Name = "maxDetections")] int MaxDetections = DetectionRequest.DefaultMaxDetections,
    [property: FromQuery(Name = "classes")] string? Classes = null,
    [property: FromQuery(Name = "ablate")] string? Ablate = null,
    [property: FromQuery(Name = "gamma")] float? Gamma = null)
{
    /// <summary>The request the query describes: names looked up and ranges checked (422 naming what to send instead).</summary>
    /// <param name="timeBudget">How long the request may take (Api:RequestTimeout): costlier explanations are refused at once.</param>
    public CamRequest ToRequest(TimeSpan? timeBudget = null)
    {
        var method = string.IsNullOrWhiteSpace(Method) ? null : CamMethod.All.GetValueOrDefault(Method.Trim())
            ?? throw Invalid("Unknown method", $"method must be one of {string.Join(", ", CamMethod.All.Keys)}; got '{Text.Shorten(Method)}'.");
        var colormap = Inference.Explanations.Colormap.ByName.GetValueOrDefault(Colormap ?? "")
            ?? throw Invalid("Unknown colormap", $"colormap must be one of {string.Join(", ", Inference.Explanations.Colormap.ByName.Keys)}; got '{Text.Shorten(Colormap)}'.");
        if (!(Alpha >= 0 && Alpha <= 1))
            throw Invalid("Invalid alpha", $"alpha must be between 0 and 1; got {Alpha}.");
        if (Gamma is { } gamma && !(gamma > 0 && gamma <= CamRequest.MaxGamma))
            throw Invalid("Invalid gamma", $"gamma must be above 0 and at most {CamRequest.MaxGamma}; got {Gamma}.");
        if (Baseline is not ("blank" or "none"))
            throw Invalid("Unknown baseline", $"baseline must be blank or none; got '{Text.Shorten(Baseline)}'.");
        return new CamRequest(Model, Target, method, Layer, Alpha, colormap, Baseline == "blank", Faithfulness, ParseChannels(Channels), Detection,
            new DetectionRequest(ScoreThreshold, IouThreshold, MaxDetections, Classes?.Split(',')), timeBudget, Ablation.ParseList(Ablate), Gamma);
    }

    private static int? ParseChannels(string? channels)
    {
        if (string.IsNullOrWhiteSpace(channels)) return CamRequest.DefaultChannels;
        if (channels.Equals("all", StringComparison.OrdinalIgnoreCase)) return null;
        return int.TryParse(channels, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count) && count >= 1 ? count
            : throw Invalid("Invalid channels", $"channels must be a positive number or 'all'; got '{Text.Shorten(channels)}'.");
    }

    private static InferenceException Invalid(string title, string detail) => new(ErrorKind.InvalidParameter, title, detail);
}

/// <summary>The query of GET /cam: an image seen earlier, by its id, and what to explain in it.</summary>
/// <param name="ImageId">The imageId of an earlier /classify or /detect answer.</param>
/// <param name="Model">Model name; the default classifier (or, with a detection, the default detector) when empty.</param>
/// <param name="Target">Class label or index to explain; the top-1 class when empty (classifiers).</param>
/// <param name="Method">The explanation method, one of camMethods in GET /models (default: gradcam; layercam for a detection).</param>
/// <param name="Layer">Layer name or index (GET /models lists camLayers), several separated by commas, or all (their maps averaged); the default layer when empty.</param>
/// <param name="Alpha">Overlay opacity, 0..1 (default 0.5).</param>
/// <param name="Colormap">jet (default), viridis, inferno or gray.</param>
/// <param name="Baseline">blank (default): explain relative to a blank image of the input's border colour; none: raw activations.</param>
/// <param name="Faithfulness">Compute averageDrop, increaseInConfidence and deletionAuc (default true).</param>
/// <param name="Channels">scorecam and ablationcam: how many channels to score, those with the largest positive contribution (sum of ReLU(G) A; default 24), or all.</param>
/// <param name="Detection">Explain this detection of a detector (its index in the /detect answer with the same thresholds).</param>
/// <param name="ScoreThreshold">With detection: the /detect scoreThreshold the index refers to (default 0.3).</param>
/// <param name="IouThreshold">With detection: the /detect iouThreshold (default 0.45).</param>
/// <param name="MaxDetections">With detection: the /detect maxDetections (default 100).</param>
/// <param name="Classes">With detection: the /detect classes filter (default: all).</param>
/// <param name="Ablate">Explain the network with these activations switched off: &lt;layer&gt;:&lt;what&gt;[@x,y,w,h][=blank], several joined with ;, where &lt;what&gt; is all, top&lt;K&gt; or channel indices joined with commas (docs/explanations.md).</param>
/// <param name="Gamma">The map's contrast, above 0 and at most 10 (default 1; 0.7 for a detection): its values, normalised to 0..1, raised to this power before they are shown and the faithfulness figures are measured; below 1 widens the bright region, above 1 narrows it.</param>
public sealed record CachedCamQuery(
    [property: FromQuery(Name = "imageId")] string? ImageId = null,
    string? Model = null, string? Target = null, string? Method = null, string? Layer = null, float Alpha = CamRequest.DefaultAlpha,
    string Colormap = CamRequest.DefaultColormap, string Baseline = CamRequest.DefaultBaseline, bool Faithfulness = true,
    string? Channels = null, int? Detection = null, float ScoreThreshold = DetectionRequest.DefaultScoreThreshold,
    float IouThreshold = DetectionRequest.DefaultIouThreshold, int MaxDetections = DetectionRequest.DefaultMaxDetections, string? Classes = null,
    string? Ablate = null, float? Gamma = null)
    : CamQuery(Model, Target, Method, Layer, Alpha, Colormap, Baseline, Faithfulness, Channels, Detection, ScoreThreshold, IouThreshold, MaxDetections, Classes,
        Ablate, Gamma);

public static class CamEndpoints
{
    private const string Description =
        "Methods: `cam` (exact decomposition of the score; layers followed only by linear ops), `gradcam`, `gradcampp`, `layercam` " +
        "(any layer), `scorecam` (masked inputs, batched), `ablationcam` (channels switched off, batched). Send `Accept: image/png` " +
        "to get the overlay PNG itself instead of JSON.";

    public static IEndpointRouteBuilder MapCamEndpoints(this IEndpointRouteBuilder app)
    {
        // Mapped without a group: a group's "" route would be named "/cam/" in metrics and logs.
        app.MapGet("/cam", ExplainCachedAsync)
            .WithTags("Explanations")
            .WithName("CamForImageId")
            .WithSummary("Explain an image classified earlier, by its imageId")
            .WithDescription(Description + " The imageId comes from a /classify response; images are kept for a while (bounded cache).")
            .Produces<CamResponse>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapPost("/cam", ExplainUploadAsync)
            .WithTags("Explanations")
            .WithName("CamForImage")
            .WithSummary("Explain an image sent in the request")
            .WithDescription(Description + " The image is sent as for /classify (multipart, raw body or base64 JSON; one image).")
            .Produces<CamResponse>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .AcceptsImageBody();
        return app;
    }

    /// <summary>Explains a cached image.</summary>
    private static async Task<IResult> ExplainCachedAsync(HttpContext context, ImageCache cache, CamService cam, [AsParameters] CachedCamQuery query,
        Microsoft.Extensions.Options.IOptions<ApiOptions> api, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(query.ImageId))
            throw new InferenceException(ErrorKind.BadInput, "Missing imageId", "GET /cam needs ?imageId= from a /classify response; or POST the image to /cam.");
        var (bytes, task) = cache.Find(query.ImageId) ?? throw new InferenceException(ErrorKind.NotFound, "Unknown image",
            $"No image with id '{Text.Shorten(query.ImageId)}' is cached (unknown or expired). Send the image again to /classify, or POST it to /cam.");
        // An id from /detect explains a detection: without detection=, the classifier would explain a canvas it never saw.
        if (task == ModelTasks.Detection && query.Detection is null && string.IsNullOrWhiteSpace(query.Model))
            throw new InferenceException(ErrorKind.InvalidParameter, "Which detection?",
                "This imageId comes from /detect: add detection=<index in the detections list> to explain one detection " +
                "(with the same scoreThreshold, iouThreshold, maxDetections and classes), or name a classifier with model= to classify the whole image.");
        return Respond(context, await cam.ExplainAsync(bytes, query.ToRequest(api.Value.RequestTimeout), cancellationToken));
    }

    /// <summary>Explains an uploaded image.</summary>
    private static async Task<IResult> ExplainUploadAsync(HttpContext context, ImageRequestReader reader, CamService cam, [AsParameters] CamQuery query,
        Microsoft.Extensions.Options.IOptions<ApiOptions> api, CancellationToken cancellationToken)
    {
        var images = await reader.ReadAsync(context.Request, cancellationToken);
        if (images.Count != 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "One image", $"POST /cam explains one image; the request holds {images.Count}.");
        return Respond(context, await cam.ExplainAsync(images[0], query.ToRequest(api.Value.RequestTimeout), cancellationToken));
    }

    private static IResult Respond(HttpContext context, CamResult result) =>
        PngResult.Wanted(context.Request) ? new PngResult(result.OverlayPng, result.Model) : TypedResults.Ok(CamResponse.From(result));
}

/// <summary>A PNG answer (<c>Accept: image/png</c>) that still names its model for the request log.</summary>
public sealed class PngResult(byte[] png, string model) : IResult, IModelResult
{
    public string Model => model;

    public Task ExecuteAsync(HttpContext httpContext) => TypedResults.File(png, "image/png").ExecuteAsync(httpContext);

    /// <summary>True when the client accepts image/png and does not also ask for JSON.</summary>
    public static bool Wanted(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        bool png = accept.Any(a => a.MediaType.Equals("image/png", StringComparison.OrdinalIgnoreCase) && a.Quality is not 0);
        bool json = accept.Any(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase));
        return png && !json;
    }
}
