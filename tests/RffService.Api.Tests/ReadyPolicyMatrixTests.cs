using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RffService.Api.Health;
using RffService.Inference;
using RffService.Inference.Models;
using RffService.Onnx.Runtime;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>
/// Inference:ReadyPolicy as docs/configuration.md states it: nothing is ready until every model has finished loading;
/// then 'any' is ready when at least one model serves, 'all' only when every model does.
/// </summary>
public class ReadyPolicyMatrixTests
{
    [Theory]
    [InlineData("loading", "any", false)]
    [InlineData("loading", "all", false)]
    [InlineData("all ready", "any", true)]
    [InlineData("all ready", "all", true)]
    [InlineData("one failed", "any", true)]
    [InlineData("one failed", "all", false)]
    [InlineData("all failed", "any", false)]
    [InlineData("all failed", "all", false)]
    [InlineData("empty", "any", false)]
    [InlineData("empty", "all", false)]
    public async Task Readiness_by_policy_and_model_states(string states, string policy, bool ready)
    {
        using var models = new TestModelRepository();
        if (states is "loading" or "all ready" or "one failed") models.AddModel("good", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig());
        if (states is "one failed" or "all failed") models.AddModelBytes("broken", TestModelRepository.TinyConfig(), "not an onnx file"u8.ToArray());
        var options = Options.Create(new InferenceOptions { ModelsPath = models.Root, ExecutionProvider = "cpu", ReloadInterval = TimeSpan.Zero, ReadyPolicy = policy });
        await using var repository = new ModelRepository(options, new ModelLoader(new SessionFactory(options.Value.SessionSettings()), options), NullLogger<ModelRepository>.Instance);
        if (states != "loading") repository.LoadAll();

        var (isReady, message) = ModelsReadyHealthCheck.Evaluate(repository, policy);
        Assert.True(ready == isReady, $"{states}, {policy}: {message}");
    }
}
