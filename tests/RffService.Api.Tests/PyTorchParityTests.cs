using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;
using SkiaSharp;

namespace RffService.Api.Tests;

/// <summary>
/// Models built, trained briefly and exported by PyTorch and torchvision during the test run
/// (python/tests/parity_models.py), served by the service, and compared with what torch says about them.
/// </summary>
public sealed class PyTorchParityFixture() : TorchExportsFixture("parity_models.py");

/// <summary>
/// The models and torch's references a script of python/tests writes into a temporary folder (OUT/models,
/// OUT/references), served by the service on the CPU.
/// </summary>
public abstract class TorchExportsFixture : WebApplicationFactory<Program>
{
    protected TorchExportsFixture(string script)
    {
        Root = Directory.CreateTempSubdirectory("rff-parity-").FullName;
        string repository = DefaultModelsTests.RepositoryRoot();
        var start = new ProcessStartInfo("/usr/bin/python3", [Path.Combine(repository, "python", "tests", script), Root])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.Environment["PYTHONPATH"] = Path.Combine(repository, "python");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{script} failed (python3-torch, python3-torchvision and python3-onnx are needed): {errors.Result}");
    }

    public string Root { get; }

    public JsonElement Reference(string model) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "references", model + ".json"))).RootElement;

    public byte[] Image(string file) => File.ReadAllBytes(Path.Combine(Root, "references", file));

    public IEnumerable<string> Models(string task) => Directory.GetFiles(Path.Combine(Root, "references"), "*.json")
        .Select(Path.GetFileNameWithoutExtension).Where(m => Reference(m!).GetProperty("task").GetString() == task).Order()!;

    protected override void ConfigureWebHost(IWebHostBuilder builder) =>
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Inference:ModelsPath"] = Path.Combine(Root, "models"),
            ["Inference:ExecutionProvider"] = "cpu",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        }));

    public async Task<HttpClient> ReadyClientAsync()
    {
        var client = CreateClient();
        var repository = Services.GetRequiredService<ModelRepository>();
        await repository.Loaded.WaitAsync(TimeSpan.FromMinutes(3));
        await repository.ExplanationsChecked.WaitAsync(TimeSpan.FromMinutes(3));
        return client;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

[Trait("Category", "Slow")]
[Trait("Needs", "python3-torch")]
public class PyTorchParityTests(PyTorchParityFixture parity, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<PyTorchParityFixture>
{
    internal static ByteArrayContent Png(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    [Fact]
    public async Task Every_exported_model_loads_and_configurations_left_out_are_inferred_from_the_file()
    {
        var client = await parity.ReadyClientAsync();
        var models = (await client.GetFromJsonAsync<JsonElement>("/models")).GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(16, models.Count);
        Assert.All(models, m => Assert.True(m.GetProperty("state").GetString() == "ready", m.ToString()));
        var inferred = models.Where(m => m.GetProperty("configInferred").GetBoolean()).Select(m => m.GetProperty("name").GetString()).Order();
        Assert.Equal(["rff-custom-13-unfolded-inferred", "ssdlite"], inferred);
        // The RFF layers are found in every spelling: the operator, and the standard-op chains of opsets 13 and 17 with or without folding.
        foreach (var name in new[] { "rff-custom-17", "rff-chain-17", "rff-chain-13-unfolded", "rff-custom-13-unfolded-inferred" })
            Assert.True(models.Single(m => m.GetProperty("name").GetString() == name).GetProperty("rffLayers").GetArrayLength() == 2, name);
    }

    [Fact]
    public async Task Classify_probabilities_equal_torch()
    {
        var client = await parity.ReadyClientAsync();
        foreach (var model in parity.Models("classification"))
            foreach (var @case in parity.Reference(model).GetProperty("cases").EnumerateArray())
            {
                var answer = await client.PostAsync($"/classify?model={model}&topK=3", Png(parity.Image(@case.GetProperty("image").GetString()!)));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                var predictions = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("predictions").EnumerateArray().ToList();
                var expected = @case.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToList();
                foreach (var prediction in predictions)
                    Assert.True(Math.Abs(expected[prediction.GetProperty("index").GetInt32()] - prediction.GetProperty("probability").GetDouble()) <= 1e-4,
                        $"{model}: {prediction} against torch's {string.Join(", ", expected)}");
            }
    }

    [Fact]
    public async Task Grad_cam_and_layer_cam_at_every_layer_equal_torch_autograd()
    {
        await parity.ReadyClientAsync();
        var repository = parity.Services.GetRequiredService<ModelRepository>();
        var report = new List<string>();
        foreach (var model in parity.Models("classification"))
        {
            var runtime = repository.Find(model)!.Runtime!;
            var explainer = runtime.Explanations.Explainer ?? throw new InvalidOperationException($"{model}: {runtime.Explanations.Error}");
            var input = runtime.Config.Input;
            foreach (var @case in parity.Reference(model).GetProperty("cases").EnumerateArray())
            {
                var tensor = GrayTensor(parity.Image(@case.GetProperty("image").GetString()!), input);
                int target = @case.GetProperty("target").GetInt32();
                var torchLayers = @case.GetProperty("layers").EnumerateArray().ToList();
                var classTarget = new ClassTarget(target, runtime.Config.Labels.Count, probabilities: false);
                foreach (var layer in explainer.Layers)
                {
                    Assert.True(layer.Usable, $"{model}: layer {layer.Name} refused: {layer.Refusal}");
                    var run = explainer.Run(tensor, [1, 1, input.Height, input.Width], classTarget.Weights(explainer.ScoreShape), [1, .. explainer.ScoreShape], [layer]);
                    var (activations, gradients, shape) = run.Layers[layer.Tensor];
                    // The torch module whose output this ONNX tensor is: same shape, same values.
                    var match = torchLayers.FirstOrDefault(t => t.GetProperty("shape").EnumerateArray().Select(d => (long)d.GetInt32()).SequenceEqual(shape[1..])
                                                                && MaxRelativeDifference(Floats(t, "activation"), activations) < 1e-4);
                    Assert.True(match.ValueKind == JsonValueKind.Object, $"{model}: layer {layer.Name} ({layer.Kind}) matches no torch module output");
                    var context = new CamContext(layer, tensor, [1, 1, input.Height, input.Width], activations, gradients, shape.Select(d => (int)d).ToArray(),
                        reference: null, blankInput: null, runner: null!, channelLimit: null);
                    double gradCam = Pearson(Floats(match, "gradcam"), (await new GradCam().ComputeAsync(context, default)).Values);
                    double layerCam = Pearson(Floats(match, "layercam"), (await new LayerCam().ComputeAsync(context, default)).Values);
                    report.Add($"{model} {layer.Name} = torch {match.GetProperty("module").GetString()}: gradcam r {gradCam:F6}, layercam r {layerCam:F6}");
                    Assert.True(gradCam >= 0.999 && layerCam >= 0.999, string.Join("\n", report));
                }
            }
        }
        Assert.NotEmpty(report);
        foreach (var line in report) output.WriteLine(line);
    }

    [Fact]
    public async Task Interventions_equal_torch_forward_hooks_that_switch_the_same_activations()
    {
        var client = await parity.ReadyClientAsync();
        var repository = parity.Services.GetRequiredService<ModelRepository>();
        int compared = 0, moved = 0;
        foreach (var model in parity.Models("classification"))
        {
            var runtime = repository.Find(model)!.Runtime!;
            var explainer = runtime.Explanations.Explainer ?? throw new InvalidOperationException($"{model}: {runtime.Explanations.Error}");
            var input = runtime.Config.Input;
            int comparedHere = 0;
            foreach (var @case in parity.Reference(model).GetProperty("cases").EnumerateArray())
            {
                var image = parity.Image(@case.GetProperty("image").GetString()!);
                var layers = explainer.Layers.Where(l => l.Usable).ToList();
                var activations = explainer.Activations(GrayTensor(image, input), [1, 1, input.Height, input.Width], layers);
                var original = @case.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToList();
                foreach (var reference in @case.GetProperty("interventions").EnumerateArray())
                {
                    // The CAM layer whose tensor is the hooked module's output: same shape, same values.
                    string module = reference.GetProperty("module").GetString()!;
                    var torchLayer = @case.GetProperty("layers").EnumerateArray().First(l => l.GetProperty("module").GetString() == module);
                    var torchShape = torchLayer.GetProperty("shape").EnumerateArray().Select(d => (long)d.GetInt32()).ToArray();
                    int at = layers.FindIndex(l => new[] { l.Channels, l.Height, l.Width }.SequenceEqual(torchShape)
                                                   && MaxRelativeDifference(Floats(torchLayer, "activation"), activations[layers.IndexOf(l)]) < 1e-4);
                    if (at < 0) continue; // a module whose output is no CAM layer of the export
                    string ablate = $"{layers[at].Name}:{reference.GetProperty("ablate").GetString()}";
                    var answer = await client.PostAsync($"/classify?model={model}&topK=3&ablate={Uri.EscapeDataString(ablate)}", Png(image));
                    Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{model} {ablate}: {await answer.Content.ReadAsStringAsync()}");
                    var json = await answer.Content.ReadFromJsonAsync<JsonElement>();
                    var expected = reference.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToList();
                    foreach (var (field, truth) in new[] { ("predictions", expected), ("original", original) })
                        foreach (var prediction in json.GetProperty(field).EnumerateArray())
                            Assert.True(Math.Abs(truth[prediction.GetProperty("index").GetInt32()] - prediction.GetProperty("probability").GetDouble()) <= 1e-4,
                                $"{model} {ablate} {field}: {prediction} against torch's {string.Join(", ", truth)}");
                    if (expected.Zip(original).Max(p => Math.Abs(p.First - p.Second)) > 1e-3) moved++;
                    comparedHere++;
                }
            }
            Assert.True(comparedHere >= 3, $"{model}: only {comparedHere} interventions matched a CAM layer");
            compared += comparedHere;
        }
        output.WriteLine($"{compared} interventions equal to torch; {moved} moved a probability by more than 1e-3");
        // The comparison means something only where switching off changes the answer.
        Assert.True(moved >= compared / 2, $"only {moved} of {compared} interventions changed the probabilities");
    }

    [Theory]
    [InlineData("rff-ssd")]
    [InlineData("ssdlite")]
    public async Task Detect_equals_torchvision_post_processing(string model)
    {
        var client = await parity.ReadyClientAsync();
        var reference = parity.Reference(model);
        var thresholds = reference.GetProperty("thresholds");
        string query = $"model={model}&scoreThreshold={thresholds.GetProperty("scoreThreshold").GetDouble()}" +
                       $"&iouThreshold={thresholds.GetProperty("iouThreshold").GetDouble()}&maxDetections={thresholds.GetProperty("maxDetections").GetInt32()}";
        foreach (var @case in reference.GetProperty("cases").EnumerateArray())
        {
            var answer = await client.PostAsync($"/detect?{query}", Png(parity.Image(@case.GetProperty("image").GetString()!)));
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var found = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detections").EnumerateArray()
                .Select(d => (Label: d.GetProperty("classIndex").GetInt32(), Score: d.GetProperty("score").GetDouble(), Box: DetectionJson.PixelBox(d.GetProperty("box")))).ToList();
            var expected = @case.GetProperty("detections").EnumerateArray()
                .Select(d => (Label: d.GetProperty("label").GetInt32(), Score: d.GetProperty("score").GetDouble(), Box: DetectionJson.Corners(d.GetProperty("box")))).ToList();
            Assert.Equal(expected.Count, found.Count);
            // Pairs in order, apart from exact score ties, whose order is arbitrary on both sides.
            var unmatched = found.ToList();
            foreach (var e in expected)
            {
                int at = unmatched.FindIndex(f => f.Label == e.Label && Math.Abs(f.Score - e.Score) <= 1e-4 && SameBox(f.Box, e.Box));
                Assert.True(at >= 0, $"{model}: torchvision's {e} has no counterpart");
                unmatched.RemoveAt(at);
            }
        }
    }

    [Fact]
    public async Task A_detections_default_explanation_layer_is_the_finest_map_its_class_heads_read()
    {
        var client = await parity.ReadyClientAsync();
        var info = await client.GetFromJsonAsync<JsonElement>("/models/rff-ssd");
        // TinyRffSsd (parity_models.py): cls[0] reads the output of the ReLU blocks.0.1 (8x8), not the RFF stem (32x32).
        Assert.Equal("/blocks.0/blocks.0.1/Relu", info.GetProperty("defaultCamLayer").GetString());
        var cam = await client.PostAsync("/cam?model=rff-ssd&detection=0&faithfulness=false", Png(parity.Image(
            parity.Reference("rff-ssd").GetProperty("cases")[0].GetProperty("image").GetString()!)));
        Assert.Equal(HttpStatusCode.OK, cam.StatusCode);
        Assert.Equal("/blocks.0/blocks.0.1/Relu", (await cam.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("layer").GetString());
    }

    [Fact]
    public void Torchvision_style_priors_equal_default_box_generator()
    {
        var config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(Path.Combine(parity.Root, "models", "rff-ssd", "config.json")), ModelConfig.JsonOptions)!;
        var priors = PriorGenerator.Generate(config.Detection!.Priors, config.Input.Width, config.Input.Height);
        var expected = parity.Reference("rff-ssd").GetProperty("priors").EnumerateArray().SelectMany(p => p.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        Assert.Equal(expected.Length, priors.Length);
        for (int i = 0; i < priors.Length; i++) Assert.Equal(expected[i], priors[i], 1e-6f);
    }

    [Fact]
    public void The_exporters_rffconv_function_is_the_one_the_graph_builder_writes()
    {
        var model = OnnxModelFile.Parse(File.ReadAllBytes(Path.Combine(parity.Root, "models", "rff-custom-17", "1", "model.onnx")));
        var exported = model.Functions.Single(f => f.Domain == RffConvOperator.Domain && f.Name == RffConvOperator.OpType);
        var written = RffConvOperator.CreateFunction();
        Assert.Equal(written.Input, exported.Input);
        Assert.Equal(written.Output, exported.Output);
        // The builder gives scale a default (an attribute with a value); the exporter always writes scale on the node.
        Assert.Equal(written.Attribute.Concat(written.AttributeProto.Select(a => a.Name)).Order(), exported.Attribute.Concat(exported.AttributeProto.Select(a => a.Name)).Order());
        Assert.Equal(written.OpsetImport.Select(o => (o.Domain, o.Version)), exported.OpsetImport.Select(o => (o.Domain, o.Version)));
        Assert.Equal(written.Node.Count, exported.Node.Count);
        for (int i = 0; i < written.Node.Count; i++)
        {
            var (w, e) = (written.Node[i], exported.Node[i]);
            Assert.Equal((w.OpType, w.Domain), (e.OpType, e.Domain));
            Assert.Equal(w.Input, e.Input);
            Assert.Equal(w.Output, e.Output);
            Assert.Equal(w.Attribute.Select(a => (a.Name, a.RefAttrName, a.Type)), e.Attribute.Select(a => (a.Name, a.RefAttrName, a.Type)));
        }
    }

    /// <summary>A gray PNG as the model's input tensor, normalised as the service does (at the input's size, so not resized).</summary>
    internal static float[] GrayTensor(byte[] png, InputConfig input)
    {
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal((input.Width, input.Height), (bitmap.Width, bitmap.Height));
        var tensor = new float[input.Width * input.Height];
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                tensor[y * bitmap.Width + x] = (bitmap.GetPixel(x, y).Red / 255f - input.Mean[0]) / input.Std[0];
        return tensor;
    }

    internal static float[] Floats(JsonElement element, string property) =>
        element.GetProperty(property).EnumerateArray().Select(v => v.GetSingle()).ToArray();

    internal static double MaxRelativeDifference(float[] expected, float[] actual)
    {
        if (expected.Length != actual.Length) return double.MaxValue;
        double scale = Math.Max(expected.Max(v => Math.Abs(v)), 1e-6);
        return expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max() / scale;
    }

    internal static double Pearson(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        // Two all-zero maps (ReLU of a negative evidence everywhere) agree.
        if (saa < 1e-20 && sbb < 1e-20) return 1;
        return sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>IoU at least 0.99, or, for boxes clipped to zero area at the image's edge, the same corners.</summary>
    private static bool SameBox(Box a, Box b) =>
        Box.IoU(a, b) >= 0.99 || new[] { a.XMin - b.XMin, a.YMin - b.YMin, a.XMax - b.XMax, a.YMax - b.YMax }.All(d => Math.Abs(d) <= 1e-2);

}
