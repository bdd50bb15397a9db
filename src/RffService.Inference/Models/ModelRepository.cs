using RffService.Inference.Monitoring;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RffService.Vision;

namespace RffService.Inference.Models;

/// <summary>
/// The model repository (Triton-like): one entry per folder under the root, each loaded from its highest version.
/// Entries are immutable and the set is replaced whole on every change (copy on write), so readers never lock and
/// always see a consistent set. A model that fails to load is kept with its reason; the others serve.
/// </summary>
public sealed class ModelRepository : IAsyncDisposable
{
    private readonly ModelLoader _loader;
    private readonly IInferenceMetrics _metrics;
    private readonly ILogger<ModelRepository> _logger;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly TimeSpan _retireDelay;
    private readonly List<Task> _retiring = [];
    private volatile IReadOnlyDictionary<string, ModelEntry> _models = new Dictionary<string, ModelEntry>();

    public ModelRepository(IOptions<InferenceOptions> options, ModelLoader loader, ILogger<ModelRepository> logger, IInferenceMetrics? metrics = null)
    {
        _loader = loader;
        _logger = logger;
        _metrics = metrics ?? IInferenceMetrics.None;
        RootPath = ResolveRoot(options.Value.ModelsPath);
        _retireDelay = options.Value.RetireDelay;
    }

    public string RootPath { get; }

    /// <summary>Completes once every model is loaded or failed.</summary>
    public Task Loaded => _loaded.Task;

    public bool IsLoaded => _loaded.Task.IsCompleted;

    /// <summary>Completes once every loaded model's explanation layers are checked (they are checked in the background, after the model serves).</summary>
    public Task ExplanationsChecked => Task.WhenAll(_models.Values.Select(m => m.Runtime?.Explanations.Completion ?? Task.CompletedTask));

    public IReadOnlyCollection<ModelEntry> Models => _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal).ToList();

    public ModelEntry? Find(string name) => _models.GetValueOrDefault(name);

    /// <summary>Discovers the models (listed as loading at once), then loads them one by one.</summary>
    public void LoadAll()
    {
        try
        {
            if (!Directory.Exists(RootPath))
            {
                _logger.LogError("Model repository {Path} does not exist; no models will be served", RootPath);
                return;
            }
            foreach (var entry in Directory.GetDirectories(RootPath).Select(ModelFolder.Discover)) Swap(entry);
            foreach (var entry in _models.Values.Where(m => m.State == ModelState.Loading).ToList())
                Report(Swap(_loader.Load(entry)), "loaded");
            foreach (var failed in _models.Values.Where(m => m.State == ModelState.Failed))
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
            var folders = Directory.Exists(RootPath)
                ? Directory.GetDirectories(RootPath).ToDictionary(d => Path.GetFileName(d)!, d => d, StringComparer.Ordinal)
                : [];
            if (only is not null && !folders.ContainsKey(only) && !current.ContainsKey(only))
                throw new InferenceException(ErrorKind.NotFound, "Unknown model", $"There is no model folder '{Text.Shorten(only)}' under the repository.");
            foreach (var (name, directory) in folders)
            {
                if (only is not null && name != only) continue;
                current.TryGetValue(name, out var old);
                string fingerprint = ModelFolder.Fingerprint(directory);
                if (old is not null && (old.Fingerprint == fingerprint || old.LastReloadFailure?.Fingerprint == fingerprint))
                {
                    if (only is not null && old.State != ModelState.Failed) results.Add(new ReloadResult(name, "unchanged", old.Version, null));
                    continue; // unchanged, or still the same broken files
                }
                var fresh = await Task.Run(() => _loader.Load(ModelFolder.Discover(directory)), cancellationToken);
                if (fresh.State != ModelState.Ready && old?.State == ModelState.Ready)
                {
                    _logger.LogError("Model {Model}: the new files failed to load ({Reason}); version {Version} keeps serving", name, fresh.Error, old.Version);
                    Swap(old with { LastReloadFailure = new ReloadFailure(DateTimeOffset.UtcNow, fingerprint, fresh.Error ?? "unknown") });
                    _metrics.ReloadFailed(name);
                    results.Add(new ReloadResult(name, "failed", old.Version, fresh.Error));
                    continue;
                }
                Swap(fresh);
                if (old is not null) Retire(old, _retireDelay);
                string action = old is null ? "added" : "reloaded";
                Report(fresh, action);
                results.Add(new ReloadResult(name, action, fresh.Version, fresh.Error));
            }
            foreach (var removed in current.Keys.Where(n => !folders.ContainsKey(n) && (only is null || n == only)).ToList())
            {
                var old = current[removed];
                _models = _models.Where(kv => kv.Key != removed).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                _metrics.ModelState(removed, null);
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

    private ModelEntry Swap(ModelEntry entry)
    {
        _models = new Dictionary<string, ModelEntry>(_models, StringComparer.Ordinal) { [entry.Name] = entry };
        _metrics.ModelState(entry.Name, entry.State.ToString().ToLowerInvariant());
        return entry;
    }

    private void Report(ModelEntry entry, string action)
    {
        if (entry.State == ModelState.Ready)
        {
            _logger.LogInformation("Model {Model}: {Action} version {Version} on {Provider} ({Layers} RFF layers)",
                entry.Name, action, entry.Version, entry.Runtime!.ExecutionProvider, entry.Runtime.RffLayers.Count);
            var explanations = entry.Runtime.Explanations;
            _ = explanations.Completion.ContinueWith(_ => ReportExplanations(entry.Name, explanations), TaskScheduler.Default);
        }
        else
            _logger.LogInformation("Model {Model}: {Action} version {Version} ({State})", entry.Name, action, entry.Version, entry.State);
    }

    private void ReportExplanations(string model, ModelExplanations explanations)
    {
        if (explanations.Explainer is { } explainer)
        {
            _logger.LogInformation("Model {Model}: explanations ready ({Usable} of {Layers} layers)", model, explainer.Layers.Count(l => l.Usable), explainer.Layers.Count);
            foreach (var layer in explainer.Layers.Where(l => !l.Usable))
                _logger.LogWarning("Model {Model}: layer {Layer} is not offered for explanations: {Reason}", model, layer.Name, layer.Refusal);
        }
        else if (!explanations.Stopped && explanations.Error is { } reason)
            _logger.LogWarning("Model {Model}: explanations are not offered: {Reason}", model, reason);
    }

    /// <summary>Disposes a model that no longer serves, once the requests that took it before the swap have finished.</summary>
    private void Retire(ModelEntry entry, TimeSpan delay)
    {
        if (entry.Runtime is not { } runtime) return;
        var task = Task.Delay(delay).ContinueWith(_ => runtime.DisposeAsync().AsTask(), TaskScheduler.Default).Unwrap();
        lock (_retiring)
        {
            _retiring.RemoveAll(t => t.IsCompleted);
            _retiring.Add(task);
        }
    }

    /// <summary>A relative path is taken from the working directory, or else from the nearest parent that has it.</summary>
    private static string ResolveRoot(string configured)
    {
        if (Path.IsPathRooted(configured)) return configured;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, configured);
            if (Directory.Exists(candidate)) return candidate;
        }
        return Path.GetFullPath(configured);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var entry in _models.Values)
            if (entry.Runtime is { } runtime) await runtime.DisposeAsync();
        Task[] retiring;
        lock (_retiring) retiring = [.. _retiring];
        await Task.WhenAll(retiring).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}

/// <summary>What a reload did to one model: unchanged, added, reloaded, removed or failed (the old version keeps serving).</summary>
public sealed record ReloadResult(string Model, string Action, int? Version, string? Error);
