using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using RffService.Onnx;
using RffService.Onnx.Proto;
using RffService.TestSupport;
using RffService.Vision.Configuration;

namespace RffService.Api.Tests;

/// <summary>The models of <see cref="ExporterPatterns"/> served as classifiers, and one with an operator explanations do not cover.</summary>
public sealed class PatternModelsFactory : ServiceFactory
{
    public static readonly IReadOnlyList<string> PatternNames = [.. ExporterPatterns.All.Keys];

    public PatternModelsFactory()
    {
        for (int i = 0; i < PatternNames.Count; i++)
        {
            var (model, _, inputShape) = ExporterPatterns.All[PatternNames[i]]();
            Models.AddGraph(ModelName(i), model, Config(model, inputShape));
        }
        var unsupported = new GraphBuilder("lrn", 17)
            .Input("x", [null, 1, 8, 8]).Output("y", [null, 3])
            .Initializer("w", [4, 1, 3, 3], Enumerable.Range(0, 36).Select(i => MathF.Sin(i)).ToArray())
            .Node("Conv", ["x", "w"], ["features"], "features", attributes: [Attributes.Ints("kernel_shape", 3, 3), Attributes.Ints("pads", 1, 1, 1, 1)])
            .Node("LRN", ["features"], ["normalised"], "local_response_norm", attributes: Attributes.Int("size", 3))
            .Node("GlobalAveragePool", ["normalised"], ["pooled"])
            .Node("Flatten", ["pooled"], ["flat"])
            .Initializer("readout", [3, 4], Enumerable.Range(0, 12).Select(i => MathF.Cos(i)).ToArray())
            .Node("Gemm", ["flat", "readout"], ["y"], attributes: Attributes.Int("transB", 1))
            .Build();
        Models.AddGraph("unsupported", unsupported, Config(unsupported, [1, 1, 8, 8]));
    }

    public static string ModelName(int pattern) => $"pattern-{pattern}";

    private static ModelConfig Config(ModelProto model, long[] inputShape)
    {
        int classes = (int)model.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimValue;
        var config = TestModelRepository.TinyConfig(labels: Enumerable.Range(0, classes).Select(c => $"class{c}").ToList());
        return config with
        {
            Input = config.Input with { Name = "x", Width = (int)inputShape[3], Height = (int)inputShape[2] },
            Output = new OutputConfig { Name = "y" },
        };
    }
}

public class ExplanationEngineTests(PatternModelsFactory factory) : IClassFixture<PatternModelsFactory>
{
    public static TheoryData<int> Patterns() => [.. Enumerable.Range(0, PatternModelsFactory.PatternNames.Count)];

    private static ByteArrayContent Png(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    [Theory]
    [MemberData(nameof(Patterns))]
    public async Task Every_method_answers_on_every_layer_of_every_exporter_pattern(int pattern)
    {
        var client = await factory.ReadyClientAsync();
        string model = PatternModelsFactory.ModelName(pattern);
        var info = await client.GetFromJsonAsync<JsonElement>($"/models/{model}");
        Assert.True(info.GetProperty("state").GetString() == "ready", info.ToString());
        var layers = info.GetProperty("camLayers").EnumerateArray().ToList();
        Assert.Contains(layers, l => l.GetProperty("tensor").GetString() == "layer");
        // Every operator in the patterns has a gradient rule and every gradient passed the self-check at load.
        Assert.All(layers, l => Assert.False(l.TryGetProperty("refused", out _), $"{PatternModelsFactory.PatternNames[pattern]}: {l}"));

        var image = TestImages.Png(20, 20, gray: true);
        foreach (var layer in layers)
        {
            string name = layer.GetProperty("name").GetString()!;
            var methods = layer.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!).ToList();
            Assert.Superset(new HashSet<string> { "gradcam", "gradcampp", "layercam", "scorecam", "ablationcam" }, methods.ToHashSet());
            foreach (var method in methods)
            {
                var response = await client.PostAsync($"/cam?model={model}&layer={Uri.EscapeDataString(name)}&method={method}", Png(image));
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{PatternModelsFactory.PatternNames[pattern]}, layer {name}, {method}: {body}");
                var json = JsonDocument.Parse(body).RootElement;
                Assert.Equal((name, method), (json.GetProperty("layer").GetString(), json.GetProperty("method").GetString()));
            }
        }
    }

    [Fact]
    public async Task An_operator_without_a_gradient_rule_is_named_in_models_and_in_the_422()
    {
        var client = await factory.ReadyClientAsync();
        var info = await client.GetFromJsonAsync<JsonElement>("/models/unsupported");
        Assert.Equal("ready", info.GetProperty("state").GetString()); // it still classifies
        var features = info.GetProperty("camLayers").EnumerateArray().Single(l => l.GetProperty("name").GetString() == "features");
        Assert.Contains("LRN", features.GetProperty("refused").GetString());
        Assert.Empty(features.GetProperty("methods").EnumerateArray());

        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=unsupported", Png(TestImages.Png()))).StatusCode);
        foreach (var query in new[] { "", "&layer=features", "&layer=all" })
        {
            string detail = await Problems.AssertProblemAsync(await client.PostAsync($"/cam?model=unsupported{query}", Png(TestImages.Png())),
                HttpStatusCode.UnprocessableEntity);
            Assert.Contains("LRN", detail);
        }
    }
}

/// <summary>
/// A model whose Score-CAM over all channels needs about 260 passes of a few milliseconds each (128x128 input: seconds
/// in all, several times the request timeout on any machine), a request timeout of 0.4 s, and a pass limit its largest
/// explanation exceeds.
/// </summary>
public sealed class SlowExplanationFactory : ServiceFactory
{
    public const int Side = 128;

    public SlowExplanationFactory()
    {
        var random = new Random(5);
        var layers = new[]
        {
            RffLayerSpec.Random(1, 32, 3, sigma: 2f, poolSize: 2, random),
            RffLayerSpec.Random(32, 256, 3, sigma: 4f, poolSize: 1, random),
        };
        var readout = Enumerable.Range(0, 3 * 256).Select(_ => (float)RffLayerSpec.Gaussian(random)).ToArray();
        var config = TestModelRepository.TinyConfig();
        Models.AddModel("slow", new RffCnnSpec(1, Side, Side, layers, readout, [0f, 0f, 0f]),
            config with { Input = config.Input with { Width = Side, Height = Side } });
    }

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>(base.Settings)
    {
        ["Api:RequestTimeout"] = "00:00:00.4",
        ["Inference:MaxExplanationPasses"] = "280",
    };
}

public class ExplanationTimeoutTests(SlowExplanationFactory factory) : IClassFixture<SlowExplanationFactory>
{
    /// <summary>Runs the slow model has started: its queue-time histogram counts one observation per run.</summary>
    private static async Task<long> RunsStartedAsync(HttpClient client)
    {
        string scrape = await client.GetStringAsync("/metrics");
        var match = Regex.Match(scrape, @"^rff_queue_duration_seconds_count\{model=""slow""\} (\d+)$", RegexOptions.Multiline);
        return match.Success ? long.Parse(match.Groups[1].Value) : 0;
    }

    [Fact]
    public async Task A_score_cam_estimated_longer_than_the_request_timeout_is_refused_before_any_work()
    {
        var client = await factory.ReadyClientAsync();
        var image = new ByteArrayContent(TestImages.Png(SlowExplanationFactory.Side, SlowExplanationFactory.Side, gray: true));
        image.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=slow", image)).StatusCode); // the model's time per image is known
        long before = await RunsStartedAsync(client);

        // All 256 channels of the last layer: about 260 passes, far more than 0.4 s on this model (48x48 inputs took
        // 0.27 s on a fast machine, so that it ran instead of being refused).
        var response = await client.PostAsync("/cam?model=slow&method=scorecam&channels=all&faithfulness=false", image);
        string detail = await Problems.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("model passes", detail);
        Assert.Contains("fewer channels", detail);
        Assert.Equal(before, await RunsStartedAsync(client)); // refused before anything ran

        // Too many passes whatever the time: the per-request limit.
        response = await client.PostAsync("/cam?model=slow&method=ablationcam&channels=all&layer=all&faithfulness=false", image);
        Assert.Contains("Inference:MaxExplanationPasses", await Problems.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity));
    }
}
