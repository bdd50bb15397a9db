using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using RffService.Onnx;
using RffService.Onnx.Explanations;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>The test repository plus a classifier whose scores are NaN for every input.</summary>
public sealed class OddModelsFactory : ServiceFactory
{
    public OddModelsFactory() => Models.AddGraph("nan-scores", NanScores(), TestModelRepository.TinyConfig());

    /// <summary>A budget that holds a few of the tiny model's graphs, not all of them.</summary>
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>(base.Settings) { ["Inference:ExplanationGraphBudgetMB"] = "2" };

    /// <summary>16x16 gray in, 3 scores out: log(-|Gemm(mean)| - 1), NaN whatever the image.</summary>
    private static Onnx.Proto.ModelProto NanScores() => new GraphBuilder("nan_scores")
        .Input(RffCnnBuilder.InputName, [null, 1, 16, 16])
        .Output(RffCnnBuilder.OutputName, [null, 3])
        .Node("GlobalAveragePool", [RffCnnBuilder.InputName], ["pooled"])
        .Node("Flatten", ["pooled"], ["flat"])
        .Initializer("w", [3, 1], [1f, 2f, 3f])
        .Node("Gemm", ["flat", "w"], ["linear"], attributes: Attributes.Int("transB", 1))
        .Node("Abs", ["linear"], ["magnitude"])
        .Node("Neg", ["magnitude"], ["negative"])
        .Initializer("one", [], [1f])
        .Node("Sub", ["negative", "one"], ["below"])
        .Node("Log", ["below"], [RffCnnBuilder.OutputName])
        .Build();
}

/// <summary>What a model or a client can cause is answered with a clear 4xx, never a 500, and the others keep serving.</summary>
public class OddModelTests(OddModelsFactory factory) : IClassFixture<OddModelsFactory>
{
    private static ByteArrayContent Png()
    {
        var content = new ByteArrayContent(TestImages.Png(16, 16, gray: true));
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    [Fact]
    public async Task Non_finite_scores_get_a_422_naming_the_model_and_output_on_rest_and_v2_and_other_models_serve()
    {
        var client = await factory.ReadyClientAsync();
        string detail = await Problems.AssertProblemAsync(await client.PostAsync("/classify?model=nan-scores", Png()), HttpStatusCode.UnprocessableEntity);
        Assert.Contains("'nan-scores'", detail);
        Assert.Contains($"'{RffCnnBuilder.OutputName}'", detail);

        var body = JsonSerializer.Serialize(new
        {
            inputs = new[] { new { name = RffCnnBuilder.InputName, shape = new[] { 1, 1, 16, 16 }, datatype = "FP32", data = new float[256] } },
        });
        var v2 = await client.PostAsync("/v2/models/nan-scores/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, v2.StatusCode);
        Assert.Contains("NaN or infinite", (await v2.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());

        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=tiny", Png())).StatusCode);
        Assert.Matches(new Regex(@"^rff_unhandled_exceptions_total\{surface=""http""\} 0$", RegexOptions.Multiline), await client.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task Explanation_graphs_stay_within_their_budget_and_one_layer_set_in_any_order_is_one_graph()
    {
        var client = await factory.ReadyClientAsync();
        var cache = factory.Services.GetRequiredService<GraphSessionCache>();
        var layers = (await client.GetFromJsonAsync<JsonElement>("/models/tiny")).GetProperty("camLayers").EnumerateArray()
            .Where(l => l.GetProperty("state").GetString() == "ready").Select(l => l.GetProperty("name").GetString()!).ToList();
        Assert.True(layers.Count >= 2);

        async Task Explain(string layer) => Assert.Equal(HttpStatusCode.OK,
            (await client.PostAsync($"/cam?model=tiny&method=gradcam&faithfulness=false&baseline=none&layer={Uri.EscapeDataString(layer)}", Png())).StatusCode);
        await Explain($"{layers[0]},{layers[1]}");
        long misses = cache.Misses;
        await Explain($"{layers[1]},{layers[0]}"); // the same set in another order: no new graph
        Assert.Equal(misses, cache.Misses);

        // Every pair of layers is a graph of its own; all of them together exceed the budget, which holds.
        foreach (var first in layers)
            foreach (var second in layers.Where(l => l != first))
                await Explain($"{first},{second}");
        Assert.True(cache.Bytes <= cache.BudgetBytes, $"{cache.Bytes} bytes kept, budget {cache.BudgetBytes}");
        Assert.True(cache.Evictions > 0, "the test's budget should have forced evictions");
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Matches(new Regex(@"^rff_explanation_graph_evictions_total [1-9]", RegexOptions.Multiline), metrics);
    }
}
