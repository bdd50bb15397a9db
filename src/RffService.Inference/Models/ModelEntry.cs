using RffService.Vision.Configuration;

namespace RffService.Inference.Models;

public enum ModelState
{
    Loading,
    Ready,
    Failed,
}

/// <summary>New files of a model that failed to load (the version before them keeps serving): when, which files, why.</summary>
/// <param name="Fingerprint">The files' fingerprint: the same broken files are not loaded again.</param>
public sealed record ReloadFailure(DateTimeOffset At, string Fingerprint, string Error);

/// <summary>
/// One model of the repository as an immutable value: its folder, versions, config and load state, and once it is
/// ready, its <see cref="ModelRuntime"/>. Loading builds a new entry; the repository swaps entries atomically.
/// </summary>
public sealed record ModelEntry
{
    public required string Name { get; init; }
    public required string Directory { get; init; }
    /// <summary>config.json and the highest version's model file (size, time): a change means a reload.</summary>
    public required string Fingerprint { get; init; }
    /// <summary>Version folders, highest first; the first is the one served.</summary>
    public IReadOnlyList<int> Versions { get; init; } = [];
    public ModelConfig? Config { get; init; }
    /// <summary>True when no config.json was found and the config was inferred from the ONNX file.</summary>
    public bool ConfigInferred { get; init; }
    public ModelState State { get; init; } = ModelState.Loading;
    public string? Error { get; init; }
    public ModelRuntime? Runtime { get; init; }
    /// <summary>The last time new files of this model failed to load while this version kept serving, or null.</summary>
    public ReloadFailure? LastReloadFailure { get; init; }

    public int? Version => Versions.Count > 0 ? Versions[0] : null;

    public ModelEntry Failed(string error) => this with { State = ModelState.Failed, Error = error, Runtime = null };
}
