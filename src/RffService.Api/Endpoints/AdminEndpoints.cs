using RffService.Inference.Models;

namespace RffService.Api.Endpoints;

public static class AdminEndpoints
{
    public const string Policy = "admin";

    public static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/admin").WithTags("Admin");
        group.MapPost("/models/reload", ReloadAllAsync)
            .WithName("ReloadModels")
            .Produces<IReadOnlyList<ReloadResult>>()
            .WithSummary("Reload the model repository now: new, changed and removed model folders (also done every Inference:ReloadInterval)");
        group.MapPost("/models/{name}/reload", ReloadOneAsync)
            .WithName("ReloadModel")
            .Produces<IReadOnlyList<ReloadResult>>()
            .WithSummary("Reload one model now (its highest version folder and config.json)")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>Checks every model folder; the answer lists what changed.</summary>
    private static async Task<IResult> ReloadAllAsync(ModelRepository repository, CancellationToken cancellationToken) =>
        TypedResults.Ok(await repository.ReloadAsync(cancellationToken: cancellationToken));

    /// <summary>Reloads one model (a new version loads in the background of the requests; the swap is atomic).</summary>
    /// <param name="name">Model folder name.</param>
    /// <param name="repository">The model repository.</param>
    /// <param name="cancellationToken">Request aborted.</param>
    private static async Task<IResult> ReloadOneAsync(string name, ModelRepository repository, CancellationToken cancellationToken) =>
        TypedResults.Ok(await repository.ReloadAsync(name, cancellationToken));
}
