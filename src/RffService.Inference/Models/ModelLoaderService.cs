using Microsoft.Extensions.Hosting;

namespace RffService.Inference.Models;

/// <summary>Loads the repository in the background at start-up, so liveness answers while models load.</summary>
public sealed class ModelLoaderService(ModelRepository repository) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(repository.LoadAll, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
