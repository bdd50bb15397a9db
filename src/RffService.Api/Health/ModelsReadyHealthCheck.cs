using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RffService.Inference.Models;
using RffService.Inference;

namespace RffService.Api.Health;

/// <summary>
/// Ready once every model has finished loading (and warming up) and, by <see cref="InferenceOptions.ReadyPolicy"/>,
/// at least one serves ("any", failed ones reported) or all do ("all").
/// </summary>
internal sealed class ModelsReadyHealthCheck(ModelRepository repository, IOptions<InferenceOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var states = repository.Models.ToDictionary(m => m.Name, m => (object)m.State.ToString().ToLowerInvariant());
        var (ready, message) = Evaluate(repository, options.Value.ReadyPolicy);
        return Task.FromResult(ready ? HealthCheckResult.Healthy(message, states) : HealthCheckResult.Unhealthy(message, data: states));
    }

    /// <summary>The readiness both /health/ready and the Open Inference Protocol's server-ready report.</summary>
    public static (bool Ready, string Message) Evaluate(ModelRepository repository, string readyPolicy)
    {
        if (!repository.IsLoaded) return (false, "Models are loading.");
        if (!repository.Models.Any(m => m.State == ModelState.Ready)) return (false, $"No model is ready (repository: {repository.RootPath}).");
        int failed = repository.Models.Count(m => m.State == ModelState.Failed);
        if (failed > 0 && readyPolicy == "all") return (false, $"{failed} model(s) failed to load and the ready policy is 'all'.");
        return (true, failed == 0 ? "All models are ready." : $"{failed} model(s) failed to load; the others serve.");
    }
}
