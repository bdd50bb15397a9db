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
        if (!repository.IsLoaded)
            return Task.FromResult(HealthCheckResult.Unhealthy("Models are loading.", data: states));
        if (!repository.Models.Any(m => m.State == ModelState.Ready))
            return Task.FromResult(HealthCheckResult.Unhealthy($"No model is ready (repository: {repository.RootPath}).", data: states));
        int failed = repository.Models.Count(m => m.State == ModelState.Failed);
        if (failed > 0 && options.Value.ReadyPolicy == "all")
            return Task.FromResult(HealthCheckResult.Unhealthy($"{failed} model(s) failed to load and the ready policy is 'all'.", data: states));
        return Task.FromResult(HealthCheckResult.Healthy(
            failed == 0 ? "All models are ready." : $"{failed} model(s) failed to load; the others serve.", states));
    }
}
