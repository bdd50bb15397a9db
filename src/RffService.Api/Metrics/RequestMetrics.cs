using System.Diagnostics;

namespace RffService.Api.Metrics;

/// <summary>Counts and times every request by route pattern (never the raw path: its cardinality is unbounded), model and status.</summary>
public static class RequestMetrics
{
    public static IApplicationBuilder UseRffRequestMetrics(this IApplicationBuilder app)
    {
        var metrics = app.ApplicationServices.GetRequiredService<PrometheusMetrics>();
        return app.Use(async (context, next) =>
        {
            long started = Stopwatch.GetTimestamp();
            // Routing has already run; the exception handler clears the endpoint when it re-executes, so keep it now.
            var matched = context.GetEndpoint() as RouteEndpoint;
            try
            {
                await next(context);
            }
            finally
            {
                string endpoint = (matched ?? context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                string model = context.Items.TryGetValue(RequestLogging.ModelItem, out var name) && name is string s ? s : "-";
                metrics.RequestFinished(endpoint, model, context.Response.StatusCode, Stopwatch.GetElapsedTime(started));
            }
        });
    }
}
