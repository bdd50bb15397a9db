using RffService.Api.Swagger;

namespace RffService.Api.Endpoints;

public static class ImageEndpointConventions
{
    /// <summary>
    /// Conventions of every endpoint that takes images in the body: the documented request body (multipart, raw image,
    /// base64 JSON), the problem responses its input can cause, and no antiforgery (API clients, not browser forms).
    /// </summary>
    public static RouteHandlerBuilder AcceptsImageBody(this RouteHandlerBuilder endpoint) => endpoint
        .WithMetadata(new ImageRequestBodyMetadata())
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
        .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
        .DisableAntiforgery();
}
