using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RffService.Inference;
using RffService.Inference.Classification;
using RffService.Inference.Models;
using RffService.Inference.Runtime;

namespace RffService.Inference.Tests;

internal static class TestServices
{
    public static ModelRepository LoadRepository(string root, string provider = "cpu", Action<InferenceOptions>? configure = null)
    {
        var options = Options(root, provider, configure);
        var selector = new ExecutionProviderSelector(options, NullLogger<ExecutionProviderSelector>.Instance);
        var repository = new ModelRepository(options, new ModelLoader(selector, options), NullLogger<ModelRepository>.Instance);
        repository.LoadAll();
        return repository;
    }

    public static ClassificationService Classifier(ModelRepository repository, string defaultModel = "tiny", Action<InferenceOptions>? configure = null)
    {
        var options = Options(repository.RootPath, "cpu", o => { o.DefaultClassificationModel = defaultModel; configure?.Invoke(o); });
        return new ClassificationService(new ModelResolver(repository, options), options);
    }

    private static IOptions<InferenceOptions> Options(string root, string provider, Action<InferenceOptions>? configure)
    {
        var value = new InferenceOptions { ModelsPath = root, ExecutionProvider = provider };
        configure?.Invoke(value);
        return Microsoft.Extensions.Options.Options.Create(value);
    }
}
