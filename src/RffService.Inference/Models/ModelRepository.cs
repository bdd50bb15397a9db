using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RffService.Inference.Models;

/// <summary>
/// The model repository (Triton-like): models/&lt;name&gt;/config.json and numbered version folders, the highest of
/// which is loaded. A model that fails to load is kept with its reason; the others serve.
/// </summary>
public sealed class ModelRepository : IDisposable
{
    private readonly ModelLoader _loader;
    private readonly ILogger<ModelRepository> _logger;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IReadOnlyDictionary<string, LoadedModel> _models = new Dictionary<string, LoadedModel>();

    public ModelRepository(IOptions<InferenceOptions> options, ModelLoader loader, ILogger<ModelRepository> logger)
    {
        _loader = loader;
        _logger = logger;
        RootPath = ResolveRoot(options.Value.ModelsPath);
    }

    public string RootPath { get; }

    /// <summary>Completes once every model is loaded or failed.</summary>
    public Task Loaded => _loaded.Task;

    public bool IsLoaded => _loaded.Task.IsCompleted;

    public IReadOnlyCollection<LoadedModel> Models => _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal).ToList();

    public LoadedModel? Find(string name) => _models.GetValueOrDefault(name);

    /// <summary>Discovers the models (listed as loading at once), then loads them one by one.</summary>
    public void LoadAll()
    {
        try
        {
            if (!System.IO.Directory.Exists(RootPath))
            {
                _logger.LogError("Model repository {Path} does not exist; no models will be served", RootPath);
                return;
            }
            var discovered = System.IO.Directory.GetDirectories(RootPath)
                .Select(Discover)
                .ToDictionary(m => m.Name, StringComparer.Ordinal);
            _models = discovered;
            foreach (var model in discovered.Values.Where(m => m.State == ModelState.Loading))
            {
                _loader.Load(model);
                if (model.State == ModelState.Ready)
                    _logger.LogInformation("Model {Model} version {Version} ready on {Provider} ({Layers} RFF layers)",
                        model.Name, model.Version, model.ExecutionProvider, model.RffLayers.Count);
            }
            foreach (var failed in discovered.Values.Where(m => m.State == ModelState.Failed))
                _logger.LogError("Model {Model} failed to load: {Reason}", failed.Name, failed.Error);
        }
        finally
        {
            _loaded.TrySetResult();
        }
    }

    private static LoadedModel Discover(string directory)
    {
        string name = Path.GetFileName(directory);
        var versions = System.IO.Directory.GetDirectories(directory)
            .Select(Path.GetFileName)
            .Select(v => int.TryParse(v, out int n) && n > 0 ? n : (int?)null)
            .OfType<int>()
            .OrderDescending()
            .ToList();
        var (config, error) = ReadConfig(Path.Combine(directory, "config.json"));
        var model = new LoadedModel
        {
            Name = name,
            Directory = directory,
            Config = config,
            Versions = versions,
            Version = versions.Count > 0 ? versions[0] : null,
        };
        if (error is not null)
        {
            model.State = ModelState.Failed;
            model.Error = error;
        }
        return model;
    }

    private static (ModelConfig? Config, string? Error) ReadConfig(string path)
    {
        if (!File.Exists(path)) return (null, "config.json is missing");
        try
        {
            var config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(path), ModelConfig.JsonOptions);
            if (config is null) return (null, "config.json is empty");
            var errors = ModelConfigValidator.Validate(config);
            return errors.Count == 0 ? (config, null) : (null, "config.json is invalid: " + string.Join(" ", errors));
        }
        catch (JsonException ex)
        {
            return (null, $"config.json is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>A relative path is taken from the working directory, or else from the nearest parent that has it.</summary>
    private static string ResolveRoot(string configured)
    {
        if (Path.IsPathRooted(configured)) return configured;
        for (var dir = new DirectoryInfo(System.IO.Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, configured);
            if (System.IO.Directory.Exists(candidate)) return candidate;
        }
        return Path.GetFullPath(configured);
    }

    public void Dispose()
    {
        foreach (var model in _models.Values)
        {
            model.Batcher?.DisposeAsync().AsTask().GetAwaiter().GetResult(); // stops taking work; queued callers get 503
            model.Explainer?.Dispose();
            model.Session?.Dispose();
        }
    }
}
