using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;

namespace RffService.Api.Tests;

/// <summary>torchvision's families with an RFF stem, built and exported by python/tests/torchvision_families.py.</summary>
public sealed class TorchvisionFamiliesFixture() : TorchExportsFixture("torchvision_families.py");

/// <summary>
/// torchvision's classification families (ResNet bottlenecks, MobileNetV2 and V3, EfficientNet, VGG with BatchNorm,
/// DenseNet, SqueezeNet, ShuffleNetV2, RegNet, ConvNeXt) with an RffConv2d stem, and two models with the input forms
/// exporters also write (NHWC colour images, uint8 pixels normalised inside the graph), exported by torch in the test run
/// (some with the package's export(), some plainly), served and compared with torch: probabilities, and Grad-CAM and
/// Layer-CAM at every layer the service offers against torch autograd at the tensor torch computed with the same values.
/// Layers the service refuses must say why (the self-check's refusals are listed in the test output: most are layers
/// the scores barely depend on, such as ConvNeXt's blocks behind a layer scale of 1e-6).
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "python3-torch")]
public class TorchvisionFamilyTests(TorchvisionFamiliesFixture families, Xunit.Abstractions.ITestOutputHelper output)
    : IClassFixture<TorchvisionFamiliesFixture>
{
    private const int Families = 12;

    [Fact]
    public async Task Every_family_loads_with_its_rff_stem_and_classifies_as_torch_does()
    {
        var client = await families.ReadyClientAsync();
        var models = (await client.GetFromJsonAsync<JsonElement>("/models")).GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(Families, models.Count);
        foreach (var model in models)
        {
            Assert.True(model.GetProperty("state").GetString() == "ready", model.ToString());
            Assert.True(model.GetProperty("rffLayers").GetArrayLength() == 1, $"{model.GetProperty("name")}: the RFF stem is not found");
        }
        foreach (var model in families.Models("classification"))
            foreach (var @case in families.Reference(model).GetProperty("cases").EnumerateArray())
            {
                var answer = await client.PostAsync($"/classify?model={model}&topK=3", PyTorchParityTests.Png(families.Image(@case.GetProperty("image").GetString()!)));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                var expected = @case.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToList();
                foreach (var prediction in (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("predictions").EnumerateArray())
                    Assert.True(Math.Abs(expected[prediction.GetProperty("index").GetInt32()] - prediction.GetProperty("probability").GetDouble()) <= 1e-4,
                        $"{model}: {prediction} against torch's {string.Join(", ", expected)}");
            }
    }

    [Fact]
    public async Task Grad_cam_and_layer_cam_at_every_offered_layer_equal_torch_autograd()
    {
        await families.ReadyClientAsync();
        var repository = families.Services.GetRequiredService<ModelRepository>();
        var failures = new List<string>();
        int compared = 0;
        double lowest = 1;
        foreach (var model in families.Models("classification"))
        {
            var runtime = repository.Find(model)!.Runtime!;
            var explainer = runtime.Explanations.Explainer ?? throw new InvalidOperationException($"{model}: {runtime.Explanations.Error}");
            var input = runtime.Config.Input;
            var refused = explainer.Layers.Where(l => !l.Usable).ToList();
            foreach (var layer in refused)
                Assert.False(string.IsNullOrWhiteSpace(layer.Refusal), $"{model}: {layer.Name} refused without a reason");
            int usable = 0;
            foreach (var @case in families.Reference(model).GetProperty("cases").EnumerateArray())
            {
                var tensor = InputTensor(families.Image(@case.GetProperty("image").GetString()!), input);
                long[] inputShape = [1, input.Channels, input.Height, input.Width];
                int target = @case.GetProperty("target").GetInt32();
                var torchTensors = @case.GetProperty("tensors").EnumerateArray().ToList();
                var classTarget = new ClassTarget(target, runtime.Config.Labels.Count, probabilities: false);
                foreach (var layer in explainer.Layers.Where(l => l.Usable))
                {
                    usable++;
                    var run = explainer.Run(tensor, inputShape, classTarget.Weights(explainer.ScoreShape), [1, .. explainer.ScoreShape], [layer]);
                    var (activations, gradients, shape) = run.Layers[layer.Tensor];
                    // The tensors torch computed with this layer's shape and values (several when an operation keeps
                    // the values, as a Dropout or a reshape to the same shape does; the best of them is compared).
                    var matches = torchTensors.Where(t => t.GetProperty("shape").EnumerateArray().Select(d => (long)d.GetInt32()).SequenceEqual(shape[1..])
                                                          && SampledDifference(t, activations) < 1e-4).ToList();
                    if (matches.Count == 0)
                    {
                        failures.Add($"{model}: layer {layer.Name} ({string.Join("x", shape[1..])}) matches no tensor torch computed");
                        continue;
                    }
                    var context = new CamContext(layer, tensor, [1, input.Channels, input.Height, input.Width], activations, gradients, shape.Select(d => (int)d).ToArray(),
                        reference: null, blankInput: null, runner: null!, channelLimit: null);
                    var gradCam = (await new GradCam().ComputeAsync(context, default)).Values;
                    var layerCam = (await new LayerCam().ComputeAsync(context, default)).Values;
                    double best = matches.Max(m => Math.Min(PyTorchParityTests.Pearson(PyTorchParityTests.Floats(m, "gradcam"), gradCam),
                                                            PyTorchParityTests.Pearson(PyTorchParityTests.Floats(m, "layercam"), layerCam)));
                    compared++;
                    lowest = Math.Min(lowest, best);
                    if (!(best >= 0.999)) failures.Add($"{model}: layer {layer.Name}: Pearson {best:F6} with torch's {matches[0].GetProperty("op").GetString()}");
                }
            }
            output.WriteLine($"{model}: {explainer.Layers.Count} layers, {explainer.Layers.Count - refused.Count} offered; refused: " +
                             (refused.Count == 0 ? "none" : string.Join("; ", refused.Select(l => $"{l.Name}: {l.Refusal}"))));
            if (usable == 0) failures.Add($"{model}: no layer offered");
        }
        output.WriteLine($"{compared} layer-image pairs compared; lowest Pearson {lowest:F6}");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task Every_method_answers_on_each_familys_default_layer_or_says_why_not()
    {
        var client = await families.ReadyClientAsync();
        var listing = await client.GetFromJsonAsync<JsonElement>("/models");
        var methods = listing.GetProperty("camMethods").EnumerateArray().Select(m => m.GetProperty("name").GetString()!).ToList();
        foreach (var model in families.Models("classification"))
        {
            var image = families.Image(families.Reference(model).GetProperty("cases")[0].GetProperty("image").GetString()!);
            foreach (string method in methods)
            {
                var answer = await client.PostAsync($"/cam?model={model}&method={method}&faithfulness=false", PyTorchParityTests.Png(image));
                string body = await answer.Content.ReadAsStringAsync();
                if (answer.StatusCode == HttpStatusCode.OK) continue;
                Assert.True(answer.StatusCode == HttpStatusCode.UnprocessableEntity, $"{model} {method}: {(int)answer.StatusCode} {body}");
                Assert.False(string.IsNullOrWhiteSpace(JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()), $"{model} {method}: {body}");
                output.WriteLine($"{model} {method}: 422 {JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()}");
            }
        }
    }

    /// <summary>The image as the service's pipeline gives it to the explanation graphs: NCHW, normalised with the config's mean and std.</summary>
    private static float[] InputTensor(byte[] png, Vision.Configuration.InputConfig input)
    {
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        Assert.Equal((input.Width, input.Height), (bitmap.Width, bitmap.Height));
        int plane = input.Width * input.Height;
        var tensor = new float[input.Channels * plane];
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var pixel = bitmap.GetPixel(x, y);
                byte[] values = [pixel.Red, pixel.Green, pixel.Blue];
                for (int c = 0; c < input.Channels; c++)
                {
                    int at = input.Mean.Count == 1 ? 0 : c;
                    tensor[c * plane + y * bitmap.Width + x] = (values[c] / 255f - input.Mean[at]) / input.Std[at];
                }
            }
        return tensor;
    }

    /// <summary>The largest difference at torch's sampled positions, relative to the largest sampled value (at least 1).</summary>
    private static double SampledDifference(JsonElement torchTensor, float[] activations)
    {
        var at = torchTensor.GetProperty("at").EnumerateArray().Select(i => i.GetInt32()).ToList();
        var values = PyTorchParityTests.Floats(torchTensor, "values");
        if (at[^1] >= activations.Length) return double.MaxValue;
        double scale = Math.Max(1, values.Max(v => Math.Abs(v)));
        return at.Select((index, i) => Math.Abs(activations[index] - values[i])).Max() / scale;
    }
}
