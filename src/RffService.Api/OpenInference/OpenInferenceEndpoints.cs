using System.Text.Json;
using RffService.Vision;

namespace RffService.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol (KServe v2) over REST, so Triton and KServe clients work. Errors on /v2 use the
/// protocol's <c>{"error": "..."}</c> body instead of problem details (<see cref="Errors.ProblemExceptionHandler"/> writes it
/// for every /v2 error, including the framework's 401, 403, 404, 405, 429 and 504).
/// </summary>
public static class OpenInferenceEndpoints
{
    /// <summary>The header of the protocol's binary tensor data extension, which the service does not implement.</summary>
    public const string BinaryDataHeader = "Inference-Header-Content-Length";

    public static IEndpointRouteBuilder MapOpenInferenceEndpoints(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2").WithTags("Open Inference Protocol (v2)").AddEndpointFilter(ProtocolErrors);
        // Server health and metadata are open like /health (probes carry no API key).
        v2.MapGet("/", (OpenInferenceService oip) => oip.ServerMetadata())
            .WithName("OipServerMetadata").WithSummary("Server metadata").AllowAnonymous().DisableRateLimiting();
        v2.MapGet("/health/live", () => TypedResults.Ok(new ServerLiveResponse(true)))
            .WithName("OipServerLive").WithSummary("Server live").AllowAnonymous().DisableRateLimiting();
        v2.MapGet("/health/ready", ServerReady)
            .WithName("OipServerReady").WithSummary("Server ready: the same readiness as /health/ready (Inference:ReadyPolicy)")
            .Produces<ServerReadyResponse>().Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable).AllowAnonymous().DisableRateLimiting();
        // The unversioned and the versioned routes have handlers of their own, so that neither documents a stray parameter.
        v2.MapGet("/models/{name}", (string name, OpenInferenceService oip) => oip.ModelMetadata(name, null))
            .WithName("OipModelMetadata").WithSummary("Model metadata: the FP32 tensor input and the BYTES image input, and every output")
            .Produces<ErrorResponse>(StatusCodes.Status404NotFound).Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable);
        v2.MapGet("/models/{name}/versions/{version}", (string name, string version, OpenInferenceService oip) => oip.ModelMetadata(name, version))
            .WithName("OipModelVersionMetadata").WithSummary("Model metadata of one version")
            .Produces<ErrorResponse>(StatusCodes.Status404NotFound).Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable);
        v2.MapGet("/models/{name}/ready", (string name, OpenInferenceService oip) => ModelReady(name, null, oip))
            .WithName("OipModelReady").WithSummary("Model ready (200) or not (400)")
            .Produces<ModelReadyResponse>().Produces<ErrorResponse>(StatusCodes.Status400BadRequest).Produces<ErrorResponse>(StatusCodes.Status404NotFound);
        v2.MapGet("/models/{name}/versions/{version}/ready", (string name, string version, OpenInferenceService oip) => ModelReady(name, version, oip))
            .WithName("OipModelVersionReady").WithSummary("Model version ready (200) or not (400)")
            .Produces<ModelReadyResponse>().Produces<ErrorResponse>(StatusCodes.Status400BadRequest).Produces<ErrorResponse>(StatusCodes.Status404NotFound);
        // No Accepts metadata: the JSON body is read whatever its Content-Type (Triton's clients send none or octet-stream).
        v2.MapPost("/models/{name}/infer", (HttpContext context, string name, OpenInferenceService oip, CancellationToken cancellationToken) =>
                InferAsync(context, name, null, oip, cancellationToken))
            .WithName("OipInfer").WithSummary("Inference: FP32 tensors, or BYTES base64-encoded images")
            .Produces<InferResponse>().Produces<ErrorResponse>(StatusCodes.Status404NotFound).Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable);
        v2.MapPost("/models/{name}/versions/{version}/infer", (HttpContext context, string name, string version, OpenInferenceService oip, CancellationToken cancellationToken) =>
                InferAsync(context, name, version, oip, cancellationToken))
            .WithName("OipVersionInfer").WithSummary("Inference with one version of the model")
            .Produces<InferResponse>().Produces<ErrorResponse>(StatusCodes.Status404NotFound).Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    /// <summary>JSON the protocol's clients sent malformed becomes a 400 in the protocol's form.</summary>
    private static async ValueTask<object?> ProtocolErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (JsonException ex)
        {
            throw new InferenceException(ErrorKind.BadInput, "Invalid JSON", $"The body is not valid JSON: {ex.Message}");
        }
    }

    private static IResult ServerReady(OpenInferenceService oip)
    {
        var (ready, message) = oip.ServerReady();
        if (ready) return TypedResults.Ok(new ServerReadyResponse(true));
        throw new InferenceException(ErrorKind.Unavailable, "Not ready", message);
    }

    private static IResult ModelReady(string name, string? version, OpenInferenceService oip)
    {
        try
        {
            var model = oip.ReadyModel(name, version);
            return TypedResults.Ok(new ModelReadyResponse(model.Name, true));
        }
        catch (InferenceException ex) when (ex.Kind == ErrorKind.Unavailable)
        {
            throw new InferenceException(ErrorKind.BadInput, "Model not ready", ex.Message); // the protocol: 200 means ready, a 4xx not ready
        }
    }

    private static async Task<InferResponse> InferAsync(HttpContext context, string name, string? version, OpenInferenceService oip, CancellationToken cancellationToken)
    {
        if (context.Request.Headers.ContainsKey(BinaryDataHeader))
            throw new InferenceException(ErrorKind.BadInput, "Binary tensor data not supported",
                $"The binary tensor data extension ({BinaryDataHeader}) is not supported: send the request as JSON, or use the gRPC endpoint's raw_input_contents.");
        oip.ReadyModel(name, version); // an unknown or unready model is the answer, whatever the body
        using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: cancellationToken);
        return await oip.InferAsync(name, version, InferRequest.Parse(document.RootElement), cancellationToken);
    }
}
