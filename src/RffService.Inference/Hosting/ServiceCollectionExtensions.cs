using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Inference.Tensors;
using RffService.Onnx.Runtime;
using RffService.Vision.Configuration;

namespace RffService.Inference.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>Registers the inference core: options (validated at start-up), session factory, repository, pipeline and services.</summary>
    public static IServiceCollection AddRffInference(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<InferenceOptions>()
            .Bind(configuration.GetSection(InferenceOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => ModelConfigValidator.ValidateBatching(o.Batching.AsConfig()).Count == 0,
                "Inference:Batching is outside the limits of a config.json \"batching\" section (docs/model-config.schema.json).")
            .ValidateOnStart();
        services.AddOptions<ImageCacheOptions>().Bind(configuration.GetSection($"{InferenceOptions.Section}:ImageCache"))
            .Validate(o => o.MaxEntries >= 0 && o.MaxBytes >= 0 && o.TimeToLive > TimeSpan.Zero, "Inference:ImageCache bounds must be >= 0 and TimeToLive > 0.")
            .ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<InferenceOptions>>().Value;
            var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger<SessionFactory>();
            return new SessionFactory(options.SessionSettings(), reason => logger.LogInformation("CUDA is not available ({Reason}); running models on the CPU", reason));
        });
        services.AddSingleton(provider => new RffService.Onnx.Explanations.GraphSessionCache(
            (long)provider.GetRequiredService<IOptions<InferenceOptions>>().Value.ExplanationGraphBudgetMB << 20));
        services.AddSingleton<ModelLoader>();
        services.AddSingleton<ModelRepository>();
        services.AddSingleton<ModelResolver>();
        services.AddSingleton<ImageCache>();
        services.AddSingleton<ImagePipeline>();
        services.AddSingleton<ClassificationService>();
        services.AddSingleton<DetectionService>();
        services.AddSingleton<CamService>();
        services.AddSingleton<InterventionService>();
        services.AddSingleton<TensorInferenceService>();
        services.AddHostedService<ModelLoaderService>();
        return services;
    }
}
