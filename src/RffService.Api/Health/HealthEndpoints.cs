using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RffService.Api.Health;

/// <summary>The result of a health probe.</summary>
/// <param name="Status">Healthy or Unhealthy.</param>
/// <param name="Checks">Each check with its status, description and data (e.g. each model's load state).</param>
public sealed record HealthResponse(string Status, IReadOnlyDictionary<string, HealthCheckEntry> Checks);

/// <summary>One health check.</summary>
/// <param name="Status">Healthy or Unhealthy.</param>
/// <param name="Description">What the check found.</param>
/// <param name="Data">Details, e.g. model name to load state.</param>
public sealed record HealthCheckEntry(string Status, string? Description, IReadOnlyDictionary<string, object> Data);

public static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health").WithTags("Health");
        group.MapGet("/live", Live)
            .WithName("Live")
            .AllowAnonymous()
            .WithSummary("Liveness: 200 while the process answers (no model is checked)");
        group.MapGet("/ready", Ready)
            .WithName("Ready")
            .AllowAnonymous()
            .WithSummary("Readiness: 200 once every model has loaded and warmed up (failed ones excepted) and at least one serves; 503 before")
            .Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static Ok<HealthResponse> Live() => TypedResults.Ok(new HealthResponse("Healthy", new Dictionary<string, HealthCheckEntry>()));

    private static async Task<Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>>> Ready(HealthCheckService health, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(c => c.Tags.Contains(ReadyTag), cancellationToken);
        var response = new HealthResponse(report.Status.ToString(), report.Entries.ToDictionary(
            e => e.Key, e => new HealthCheckEntry(e.Value.Status.ToString(), e.Value.Description, e.Value.Data)));
        return report.Status == HealthStatus.Healthy
            ? TypedResults.Ok(response)
            : TypedResults.Json(response, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
