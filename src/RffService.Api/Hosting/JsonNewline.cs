namespace RffService.Api.Hosting;

/// <summary>
/// Ends every JSON answer with a newline, as command-line tools expect (curl's output otherwise runs into the prompt).
/// Only streamed JSON bodies (no Content-Length) are touched, which is how System.Text.Json answers are written.
/// </summary>
internal static class JsonNewline
{
    private static readonly byte[] Newline = "\n"u8.ToArray();

    public static IApplicationBuilder UseJsonNewline(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        await next(context);
        var response = context.Response;
        if (response.HasStarted && response.ContentLength is null && !HttpMethods.IsHead(context.Request.Method)
            && response.ContentType is { } type
            && (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) || type.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase)))
            await response.Body.WriteAsync(Newline, context.RequestAborted);
    });
}
