using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Inference;
using RffService.Onnx.Runtime;

namespace RffService.Benchmarks;

/// <summary>The service's inference core in process (CPU): repository, image pipeline, classifier, detector and explanations over a model folder.</summary>
public sealed class LocalService : IAsyncDisposable, IDisposable
{
    public LocalService(string modelsRoot, int maxBatchImages = 32)
    {
        var options = Options.Create(new InferenceOptions
        {
            ModelsPath = Path.GetFullPath(modelsRoot),
            ExecutionProvider = "cpu",
            MaxBatchImages = maxBatchImages,
            ReloadInterval = TimeSpan.Zero,
        });
        Repository = new ModelRepository(options, new ModelLoader(new SessionFactory(SessionSettings.Cpu), options), NullLogger<ModelRepository>.Instance);
        Repository.LoadAll();
        Repository.ExplanationsChecked.GetAwaiter().GetResult();
        var resolver = new ModelResolver(Repository, options);
        var pipeline = new ImagePipeline(options, new ImageCache(Options.Create(new ImageCacheOptions()), TimeProvider.System));
        Classifier = new ClassificationService(resolver, pipeline);
        Detector = new DetectionService(resolver, pipeline);
        Cam = new CamService(resolver, pipeline, options);
    }

    public ModelRepository Repository { get; }
    public ClassificationService Classifier { get; }
    public DetectionService Detector { get; }
    public CamService Cam { get; }

    /// <summary>The named model, loaded and ready, or an exception that says why not.</summary>
    public ModelRuntime Ready(string name)
    {
        var model = Repository.Find(name) ?? throw new ArgumentException($"No model '{name}' under {Repository.RootPath}.");
        return model.Runtime ?? throw new InvalidOperationException($"Model '{name}' failed to load: {model.Error}");
    }

    public ValueTask DisposeAsync() => Repository.DisposeAsync();

    public void Dispose() => Repository.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
