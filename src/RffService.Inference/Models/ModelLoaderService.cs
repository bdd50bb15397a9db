using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RffService.Inference.Models;

/// <summary>
/// Loads the repository in the background at start-up (so liveness answers while models load), then checks it for
/// new or changed models every <see cref="InferenceOptions.ReloadInterval"/>.
/// </summary>
public sealed class ModelLoaderService(ModelRepository repository, IOptions<InferenceOptions> options, ILogger<ModelLoaderService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Run(repository.LoadAll, CancellationToken.None);
        var interval = options.Value.ReloadInterval;
        if (interval <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await repository.ReloadAsync(cancellationToken: stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogError(ex, "Checking the model repository for changes failed");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
    }
}
