using Microsoft.Extensions.Options;

namespace RffService.Inference.Models;

/// <summary>Finds the ready model a request asks for, or says precisely why it cannot be used.</summary>
public sealed class ModelResolver(ModelRepository repository, IOptions<InferenceOptions> options)
{
    public LoadedModel Resolve(string? name, string task)
    {
        name = string.IsNullOrWhiteSpace(name) ? DefaultFor(task) : name;
        var model = repository.Find(name)
            ?? throw new InferenceException(ErrorKind.NotFound, "Unknown model",
                $"There is no model named '{Shorten(name)}'. GET /models lists the models this service has.");
        switch (model.State)
        {
            case ModelState.Loading:
                throw new InferenceException(ErrorKind.Unavailable, "Model loading", $"Model '{model.Name}' is still loading; retry shortly.");
            case ModelState.Failed:
                throw new InferenceException(ErrorKind.Unavailable, "Model unavailable", $"Model '{model.Name}' failed to load: {model.Error}");
        }
        if (model.Config!.Task != task)
            throw new InferenceException(ErrorKind.InvalidParameter, "Wrong model task",
                $"Model '{model.Name}' is a {model.Config.Task} model; this endpoint needs a {task} model.");
        return model;
    }

    private string DefaultFor(string task)
    {
        string preferred = options.Value.DefaultClassificationModel;
        if (task == "classification" && repository.Find(preferred) is not null) return preferred;
        return repository.Models.FirstOrDefault(m => m.Config?.Task == task && m.State == ModelState.Ready)?.Name
            ?? throw new InferenceException(ErrorKind.NotFound, "No model", $"This service has no ready {task} model; name one with ?model=.");
    }

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
