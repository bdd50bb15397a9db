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
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly TimeSpan _retireDelay;
    private readonly List<Task> _retiring = [];
    // Replaced whole on every change (copy on write), so readers never lock and always see a consistent set.
    private volatile IReadOnlyDictionary<string, LoadedModel> _models = new Dictionary<string, LoadedModel>();

    public ModelRepository(IOptions<InferenceOptions> options, ModelLoader loader, ILogger<ModelRepository> logger)
    {
        _loader = loader;
        _logger = logger;
        RootPath = ResolveRoot(options.Value.ModelsPath);
        _retireDelay = options.Value.RetireDelay;
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

    /// <summary>
    /// Looks for changes on disk: a new or changed version folder or config.json reloads that model in the background of
    /// the requests (the old version keeps serving until the new one is ready, then the swap is atomic and the old one is
    /// disposed after <see cref="InferenceOptions.RetireDelay"/>, so requests in flight finish on it); a new folder adds a
    /// model; a removed folder retires it. A new version that fails to load leaves the old one serving.
    /// </summary>
    public async Task<IReadOnlyList<ReloadResult>> ReloadAsync(string? only = null, CancellationToken cancellationToken = default)
    {
        await _loaded.Task.WaitAsync(cancellationToken);
        await _reloading.WaitAsync(cancellationToken);
        try
        {
            var results = new List<ReloadResult>();
            var current = _models;
            var folders = System.IO.Directory.Exists(RootPath)
                ? System.IO.Directory.GetDirectories(RootPath).ToDictionary(d => Path.GetFileName(d)!, d => d, StringComparer.Ordinal)
                : [];
            if (only is not null && !folders.ContainsKey(only) && !current.ContainsKey(only))
                throw new InferenceException(ErrorKind.NotFound, "Unknown model", $"There is no model folder '{(only.Length > 64 ? only[..64] + "..." : only)}' under the repository.");
            foreach (var (name, directory) in folders)
            {
                if (only is not null && name != only) continue;
                current.TryGetValue(name, out var old);
                string fingerprint = Fingerprint(directory);
                if (old is not null && old.Fingerprint == fingerprint && old.State != ModelState.Failed)
                {
                    if (only is not null) results.Add(new ReloadResult(name, "unchanged", old.Version, null));
                    continue;
                }
                if (old is not null && old.Fingerprint == fingerprint) continue; // still the same broken files
                var fresh = Discover(directory);
                if (fresh.State == ModelState.Loading) await Task.Run(() => _loader.Load(fresh), cancellationToken);
                if (fresh.State != ModelState.Ready && old?.State == ModelState.Ready)
                {
                    _logger.LogError("Model {Model}: the new files failed to load ({Reason}); version {Version} keeps serving", name, fresh.Error, old.Version);
                    results.Add(new ReloadResult(name, "failed", old.Version, fresh.Error));
                    Retire(fresh, TimeSpan.Zero);
                    continue;
                }
                Swap(name, fresh);
                if (old is not null) Retire(old, _retireDelay);
                _logger.LogInformation("Model {Model}: {Action} version {Version} ({State})", name, old is null ? "added" : "reloaded", fresh.Version, fresh.State);
                results.Add(new ReloadResult(name, old is null ? "added" : "reloaded", fresh.Version, fresh.Error));
            }
            foreach (var removed in current.Keys.Where(n => !folders.ContainsKey(n) && (only is null || n == only)).ToList())
            {
                var old = current[removed];
                var without = _models.Where(kv => kv.Key != removed).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                _models = without;
                Retire(old, _retireDelay);
                _logger.LogInformation("Model {Model}: folder removed; retired", removed);
                results.Add(new ReloadResult(removed, "removed", old.Version, null));
            }
            return results;
        }
        finally
        {
            _reloading.Release();
        }
    }

    private void Swap(string name, LoadedModel model)
    {
        var next = new Dictionary<string, LoadedModel>(_models, StringComparer.Ordinal) { [name] = model };
        _models = next;
    }

    /// <summary>Disposes a model that no longer serves, once the requests that took it before the swap have finished.</summary>
    private void Retire(LoadedModel model, TimeSpan delay)
    {
        var task = Task.Delay(delay).ContinueWith(_ => DisposeModel(model), TaskScheduler.Default);
        lock (_retiring)
        {
            _retiring.RemoveAll(t => t.IsCompleted);
            _retiring.Add(task);
        }
    }

    private static void DisposeModel(LoadedModel model)
    {
        model.Batcher?.DisposeAsync().AsTask().GetAwaiter().GetResult(); // stops taking work; queued callers get 503
        model.Explainer?.Dispose();
        model.Session?.Dispose();
    }

    /// <summary>What identifies a model's files: config.json and the highest version's model.onnx (size and time).</summary>
    private static string Fingerprint(string directory)
    {
        static string Of(string path) => File.Exists(path) ? $"{path}:{new FileInfo(path).Length}:{File.GetLastWriteTimeUtc(path).Ticks}" : $"{path}:none";
        var highest = System.IO.Directory.GetDirectories(directory).Select(Path.GetFileName)
            .Select(v => int.TryParse(v, out int n) && n > 0 ? n : 0).DefaultIfEmpty(0).Max();
        return Of(Path.Combine(directory, "config.json")) + "|" + highest + "|" + Of(Path.Combine(directory, highest.ToString(), ModelLoader.ModelFileName));
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
            Fingerprint = Fingerprint(directory),
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
        foreach (var model in _models.Values) DisposeModel(model);
        Task[] retiring;
        lock (_retiring) retiring = [.. _retiring];
        Task.WaitAll(retiring, TimeSpan.FromSeconds(5));
    }
}

/// <summary>What a reload did to one model: unchanged, added, reloaded, removed or failed (the old version keeps serving).</summary>
public sealed record ReloadResult(string Model, string Action, int? Version, string? Error);
