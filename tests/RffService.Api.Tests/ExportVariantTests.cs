using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Models;

namespace RffService.Api.Tests;

/// <summary>One network exported every way a user might, by python/tests/export_variants.py.</summary>
public sealed class ExportVariantsFixture() : TorchExportsFixture("export_variants.py");

/// <summary>
/// Any export of a model using RffConv2d loads and answers as torch does: plain torch.onnx.export at opsets 11 to 17,
/// with and without constant folding and dynamic axes, the layers' custom form without the operator's definition, the
/// package's export(), and a TorchScript-traced module.
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "python3-torch")]
public class ExportVariantTests(ExportVariantsFixture variants) : IClassFixture<ExportVariantsFixture>
{
    [Fact]
    public async Task Every_export_loads_finds_both_rff_layers_and_classifies_as_torch_does_one_image_or_a_batch()
    {
        var client = await variants.ReadyClientAsync();
        var models = (await client.GetFromJsonAsync<JsonElement>("/models")).GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(10, models.Count);
        var repository = variants.Services.GetRequiredService<ModelRepository>();
        foreach (var model in models)
        {
            string name = model.GetProperty("name").GetString()!;
            Assert.True(model.GetProperty("state").GetString() == "ready", model.ToString());
            Assert.True(model.GetProperty("rffLayers").GetArrayLength() == 2, $"{name}: {model.GetProperty("rffLayers")}");
            var cases = variants.Reference(name).GetProperty("cases").EnumerateArray().ToList();
            using var batch = new MultipartFormDataContent();
            foreach (var @case in cases)
            {
                var image = new ByteArrayContent(variants.Image(@case.GetProperty("image").GetString()!));
                image.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
                batch.Add(image, "image", @case.GetProperty("image").GetString()!);
            }
            var answer = await client.PostAsync($"/classify?model={name}&topK=3", batch);
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{name}: {await answer.Content.ReadAsStringAsync()}");
            var results = (await answer.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().ToList();
            Assert.Equal(cases.Count, results.Count);
            for (int i = 0; i < cases.Count; i++)
            {
                var expected = cases[i].GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToList();
                foreach (var prediction in results[i].GetProperty("predictions").EnumerateArray())
                    Assert.True(Math.Abs(expected[prediction.GetProperty("index").GetInt32()] - prediction.GetProperty("probability").GetDouble()) <= 1e-4,
                        $"{name} image {i}: {prediction} against torch's {string.Join(", ", expected)}");
            }
            // Explanations need opset 13 (they say so below it); every later export is explained.
            var explanations = repository.Find(name)!.Runtime!.Explanations;
            await explanations.Completion.WaitAsync(TimeSpan.FromMinutes(2));
            if (name.Contains("-11") || name.Contains("-12"))
                Assert.Contains("opset", explanations.Error);
            else
                Assert.True(explanations.Explainer is not null, $"{name}: {explanations.Error}");
        }
    }
}
