using System.Globalization;
using Microsoft.Extensions.Options;
using RffService.Vision;
using RffService.Vision.Configuration;

namespace RffService.Inference.Models;

/// <summary>The one place a request's model name becomes a ready model, or an error that says precisely why not.</summary>
public sealed class ModelResolver(ModelRepository repository, IOptions<InferenceOptions> options)
{
    /// <summary>
    /// The named model (or, with no name, the default for the task), ready to serve; with a task, it must be a model of
    /// that task; with a version, that version must be the one served.
    /// </summary>
    public ModelEntry Resolve(string? name, string? task = null, string? version = null)
    {
        name = string.IsNullOrWhiteSpace(name) ? DefaultFor(task ?? ModelTasks.Classification) : name;
        var model = Describe(name);
        if (version is not null && version != model.Version?.ToString(CultureInfo.InvariantCulture))
            throw new InferenceException(ErrorKind.NotFound, "Unknown version",
                $"Model '{model.Name}' has version {model.Version?.ToString(CultureInfo.InvariantCulture) ?? "none"} loaded, not '{Text.Shorten(version, 16)}'.");
        switch (model.State)
        {
            case ModelState.Loading:
                throw new InferenceException(ErrorKind.Unavailable, "Model loading", $"Model '{model.Name}' is still loading; retry shortly.");
            case ModelState.Failed:
                throw new InferenceException(ErrorKind.Unavailable, "Model unavailable", $"Model '{model.Name}' failed to load: {model.Error}")
                { Permanent = true };
        }
        if (task is not null && model.Config!.Task != task)
            throw new InferenceException(ErrorKind.InvalidParameter, "Wrong model task",
                $"Model '{model.Name}' is a {model.Config.Task} model; this endpoint needs a {task} model.");
        return model;
    }

    /// <summary>The named model in whatever state it is (loading, ready or failed), for describing it.</summary>
    public ModelEntry Describe(string name) => repository.Find(name)
        ?? throw new InferenceException(ErrorKind.NotFound, "Unknown model",
            $"There is no model named '{Text.Shorten(name)}'; this service has {Names()}.");

    /// <summary>The models' names for a message, in the words of no particular protocol (at most 20).</summary>
    private string Names()
    {
        var names = repository.Models.Select(m => $"'{m.Name}'").ToList();
        return names.Count == 0 ? "no models" : string.Join(", ", names.Take(20)) + (names.Count > 20 ? $" and {names.Count - 20} more" : "");
    }

    /// <summary>The model a request of the task without ?model= goes to; null when there is none.</summary>
    public string? DefaultName(string task)
    {
        string preferred = options.Value.DefaultClassificationModel;
        if (task == ModelTasks.Classification && repository.Find(preferred) is not null) return preferred;
        return repository.Models.FirstOrDefault(m => m.Config?.Task == task && m.State == ModelState.Ready)?.Name;
    }

    private string DefaultFor(string task) => DefaultName(task)
        ?? throw new InferenceException(ErrorKind.NotFound, "No model", $"This service has no ready {task} model; name one with ?model=.");
}
