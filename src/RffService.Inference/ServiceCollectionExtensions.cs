using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Classification;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Inference.Runtime;

namespace RffService.Inference;

public static class ServiceCollectionExtensions
{
    /// <summary>Registers the inference core: options (validated at start-up), repository, loader and services.</summary>
    public static IServiceCollection AddRffInference(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<InferenceOptions>()
            .Bind(configuration.GetSection(InferenceOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.Batching.MaxBatchSize is >= 1 and <= 1024 && o.Batching.MaxQueueDelayMicroseconds is >= 0 and <= 10_000_000 && o.Batching.MaxQueueSize >= 1,
                "Inference:Batching: MaxBatchSize must be 1-1024, MaxQueueDelayMicroseconds 0-10000000, MaxQueueSize >= 1.")
            .ValidateOnStart();
        services.AddSingleton<ExecutionProviderSelector>();
        services.AddSingleton<ModelLoader>();
        services.AddSingleton<ModelRepository>();
        services.AddSingleton<ModelResolver>();
        services.AddSingleton<ClassificationService>();
        services.AddSingleton<Detection.DetectionService>();
        services.AddSingleton<TensorInferenceService>();
        services.AddOptions<ImageCacheOptions>().Bind(configuration.GetSection($"{InferenceOptions.Section}:ImageCache"))
            .Validate(o => o.MaxEntries >= 0 && o.MaxBytes >= 0 && o.TimeToLive > TimeSpan.Zero, "Inference:ImageCache bounds must be >= 0 and TimeToLive > 0.")
            .ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ImageCache>();
        services.AddSingleton<CamService>();
        services.AddHostedService<ModelLoaderService>();
        return services;
    }
}
