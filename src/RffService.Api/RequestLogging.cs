using RffService.Inference.Common;
using Serilog;

namespace RffService.Api;

/// <summary>One structured log line per request: method, path, status, elapsed ms and model. Never bodies.</summary>
public static class RequestLogging
{
    public const string ModelItem = "rff.model";

    public static IApplicationBuilder UseRffRequestLogging(this IApplicationBuilder app) =>
        app.UseSerilogRequestLogging(options =>
        {
            options.MessageTemplate = "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0} ms (model {Model})";
            // 5xx are errors, except a health probe's 503 (not ready yet: what the probe is for).
            options.GetLevel = (context, _, exception) =>
                exception is not null || (context.Response.StatusCode >= 500 && !context.Request.Path.StartsWithSegments("/health"))
                    ? Serilog.Events.LogEventLevel.Error
                    : Serilog.Events.LogEventLevel.Information;
            options.EnrichDiagnosticContext = (diagnostics, context) =>
                diagnostics.Set("Model", context.Items.TryGetValue(ModelItem, out var model) ? model : "-");
        });
}

/// <summary>
/// Labels the request's log line and metrics with the model that answered, read from the endpoint's result (a result,
/// or a batch of them, that names its model), so no endpoint has to remember it.
/// </summary>
public sealed class ModelLogContextFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var result = await next(context);
        if (ModelOf(result) is { } model) context.HttpContext.Items[RequestLogging.ModelItem] = model;
        return result;
    }

    private static string? ModelOf(object? result) => result switch
    {
        IModelResult single => single.Model,
        IEnumerable<IModelResult> many => many.FirstOrDefault()?.Model,
        IValueHttpResult { Value: var value } => ModelOf(value),
        INestedHttpResult { Result: var inner } => ModelOf(inner),
        _ => null,
    };
}
