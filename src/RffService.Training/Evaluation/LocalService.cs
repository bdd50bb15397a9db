using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RffService.Inference;
using RffService.Inference.Classification;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Inference.Runtime;

namespace RffService.Training.Evaluation;

/// <summary>The service's inference core in process (CPU): repository, classifier and explanations over a model folder.</summary>
public sealed class LocalService : IDisposable
{
    public LocalService(string modelsRoot, int maxBatchImages = 32)
    {
        var options = Options.Create(new InferenceOptions
        {
            ModelsPath = Path.GetFullPath(modelsRoot),
            ExecutionProvider = "cpu",
            MaxBatchImages = maxBatchImages,
        });
        var selector = new ExecutionProviderSelector(options, NullLogger<ExecutionProviderSelector>.Instance);
        Repository = new ModelRepository(options, new ModelLoader(selector, options), NullLogger<ModelRepository>.Instance);
        Repository.LoadAll();
        var resolver = new ModelResolver(Repository, options);
        Classifier = new ClassificationService(resolver, options);
        Cam = new CamService(resolver, options);
        Detector = new DetectionService(resolver, options);
    }

    public ModelRepository Repository { get; }
    public ClassificationService Classifier { get; }
    public CamService Cam { get; }
    public DetectionService Detector { get; }

    /// <summary>The named model, loaded and ready, or an exception that says why not.</summary>
    public LoadedModel Ready(string name)
    {
        var model = Repository.Find(name) ?? throw new ArgumentException($"No model '{name}' under {Repository.RootPath}.");
        return model.State == ModelState.Ready ? model : throw new InvalidOperationException($"Model '{name}' failed to load: {model.Error}");
    }

    public void Dispose() => Repository.Dispose();
}
