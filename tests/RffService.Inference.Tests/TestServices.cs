using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Onnx.Runtime;

namespace RffService.Inference.Tests;

/// <summary>The inference core wired by hand (no host): a repository over a folder and the services on top of it.</summary>
internal sealed class TestServices : IAsyncDisposable
{
    private TestServices(ModelRepository repository, IOptions<InferenceOptions> options, ImageCache cache)
    {
        Repository = repository;
        Options = options;
        Cache = cache;
        Resolver = new ModelResolver(repository, options);
        Pipeline = new ImagePipeline(options, cache);
        Classifier = new ClassificationService(Resolver, Pipeline);
        Detector = new DetectionService(Resolver, Pipeline);
        Cam = new CamService(Resolver, Pipeline, options);
    }

    public ModelRepository Repository { get; }
    public IOptions<InferenceOptions> Options { get; }
    public ImageCache Cache { get; }
    public ModelResolver Resolver { get; }
    public ImagePipeline Pipeline { get; }
    public ClassificationService Classifier { get; }
    public DetectionService Detector { get; }
    public CamService Cam { get; }

    public static TestServices Load(string root, string defaultModel = "tiny", Action<InferenceOptions>? configure = null)
    {
        var value = new InferenceOptions { ModelsPath = root, ExecutionProvider = "cpu", DefaultClassificationModel = defaultModel, ReloadInterval = TimeSpan.Zero };
        configure?.Invoke(value);
        var options = Microsoft.Extensions.Options.Options.Create(value);
        var repository = new ModelRepository(options, new ModelLoader(new SessionFactory(value.SessionSettings()), options), NullLogger<ModelRepository>.Instance);
        repository.LoadAll();
        // Explanations are checked in the background; the tests use them at once.
        repository.ExplanationsChecked.GetAwaiter().GetResult();
        return new TestServices(repository, options, new ImageCache(Microsoft.Extensions.Options.Options.Create(new ImageCacheOptions()), TimeProvider.System));
    }

    public ModelEntry Model(string name) => Repository.Find(name) ?? throw new ArgumentException($"no model {name}");

    public ValueTask DisposeAsync() => Repository.DisposeAsync();
}
