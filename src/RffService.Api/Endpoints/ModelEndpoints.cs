using Microsoft.AspNetCore.Http.HttpResults;
using RffService.Api.Contracts;
using RffService.Inference.Models;
using RffService.Vision.Configuration;

namespace RffService.Api.Endpoints;

public static class ModelEndpoints
{
    public static IEndpointRouteBuilder MapModelEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/models", ListModels)
            .WithTags("Models")
            .WithName("ListModels")
            .WithSummary("List every model: task, versions, labels, input, RFF layers, execution provider, load state");
        app.MapGet("/models/{name}", GetModel)
            .WithTags("Models")
            .WithName("GetModel")
            .WithSummary("Describe one model")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>Every model found in the repository, including failed ones (with the reason).</summary>
    private static Ok<ModelList> ListModels(ModelRepository repository, ModelResolver resolver) =>
        TypedResults.Ok(new ModelList(repository.Models.Select(ModelInfo.From).ToList(), CamMethodInfo.All,
            new[] { ModelTasks.Classification, ModelTasks.Detection }
                .Select(task => (task, name: resolver.DefaultName(task)))
                .Where(d => d.name is not null)
                .ToDictionary(d => d.task, d => d.name!)));

    /// <summary>One model by name.</summary>
    /// <param name="name">Model name, as GET /models lists it.</param>
    /// <param name="models">Finds the model.</param>
    private static Ok<ModelInfo> GetModel(string name, ModelResolver models) => TypedResults.Ok(ModelInfo.From(models.Describe(name)));
}
