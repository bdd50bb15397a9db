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
            options.EnrichDiagnosticContext = (diagnostics, context) =>
                diagnostics.Set("Model", context.Items.TryGetValue(ModelItem, out var model) ? model : "-");
        });
}
