using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using RffService.Vision;

namespace RffService.Api.Errors;

/// <summary>
/// Turns exceptions into RFC 7807 problem details. Expected failures keep their status and message; anything else is
/// a 500 whose detail reveals nothing, and is logged.
/// </summary>
internal sealed class ProblemExceptionHandler(ILogger<ProblemExceptionHandler> logger, Metrics.PrometheusMetrics metrics) : IExceptionHandler
{
    private const string OpenInferencePrefix = "/v2";

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            InferenceException e => Problem(StatusFor(e.Kind), e.Title, e.Message),
            BadHttpRequestException e => Problem(e.StatusCode,
                e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request too large" : "Bad request", BindingErrorWording.Rewrite(e.Message)),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested =>
                Problem(499, "Client closed request", "The client went away before the response was ready."),
            _ => Problem(StatusCodes.Status500InternalServerError, "Internal error", "An unexpected error occurred; it has been logged."),
        };
        if (problem.Status == StatusCodes.Status500InternalServerError)
        {
            metrics.UnhandledException("http");
            logger.LogError(exception, "Unhandled exception on {Method} {Path}", context.Request.Method, context.Request.Path);
        }
        bool retry = problem.Status == StatusCodes.Status503ServiceUnavailable && exception is not InferenceException { Permanent: true };
        await WriteAsync(context, problem, cancellationToken, retry ? "1" : null);
        return true;
    }

    public static int StatusFor(ErrorKind kind) => kind switch
    {
        ErrorKind.BadInput => StatusCodes.Status400BadRequest,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
        ErrorKind.UnsupportedMedia => StatusCodes.Status415UnsupportedMediaType,
        ErrorKind.InvalidParameter => StatusCodes.Status422UnprocessableEntity,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>
    /// Writes problem+json whatever the request's Accept header says (an error must always be readable); on the Open
    /// Inference Protocol's routes (/v2) the protocol's own <c>{"error": "..."}</c> body instead.
    /// </summary>
    public static async Task WriteAsync(HttpContext context, ProblemDetails problem, CancellationToken cancellationToken, string? retryAfter = null)
    {
        if (context.Response.HasStarted) return;
        // No Response.Clear(): it would drop headers set on purpose (WWW-Authenticate on a 401, Retry-After).
        context.Response.Headers.ContentLength = null;
        context.Response.StatusCode = problem.Status ?? 500;
        if (retryAfter is not null) context.Response.Headers.RetryAfter = retryAfter;
        if (context.Request.Path.StartsWithSegments(OpenInferencePrefix))
        {
            await context.Response.WriteAsJsonAsync(new OpenInference.ErrorResponse(problem.Detail ?? problem.Title ?? "Request failed"), cancellationToken);
            return;
        }
        problem.Instance ??= context.Request.Path;
        problem.Extensions["traceId"] = context.TraceIdentifier;
        await context.Response.WriteAsJsonAsync(problem, problem.GetType(), options: null, contentType: "application/problem+json", cancellationToken);
    }

    /// <summary>The body of a bare status set by the framework (unknown route, 405, 504); 401 and 403 are written by the API key handler.</summary>
    public static Task WriteStatusAsync(HttpContext context) => WriteAsync(context, new ProblemDetails
    {
        Status = context.Response.StatusCode,
        Title = context.Response.StatusCode switch
        {
            404 => "Not found",
            405 => "Method not allowed",
            504 => "Request timed out",
            _ => "Request failed",
        },
        Detail = context.Response.StatusCode switch
        {
            404 => $"There is no endpoint at {context.Request.Method} {context.Request.Path}. See /swagger.",
            504 => "The request took longer than Api:RequestTimeout and was cancelled.",
            405 => $"{context.Request.Path} does not accept {context.Request.Method}; it accepts {(context.Response.Headers.Allow.Count > 0 ? string.Join(", ", context.Response.Headers.Allow.ToString()) : "other methods")} (the Allow header). See /swagger.",
            _ => $"The request failed with status {context.Response.StatusCode}.",
        },
    }, context.RequestAborted);

    private static ProblemDetails Problem(int status, string title, string detail) => new()
    {
        Status = status,
        Title = title,
        Detail = detail,
    };
}
