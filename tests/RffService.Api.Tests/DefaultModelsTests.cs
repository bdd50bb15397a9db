using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Models;
using RffService.TestSupport;
using RffService.Vision.Detection;

namespace RffService.Api.Tests;

/// <summary>The service with the repository's own models/ folder, as the README's run command starts it.</summary>
public class DefaultModelsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public sealed class RepositoryModelsFactory : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder) =>
            builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Inference:ModelsPath"] = Path.Combine(RepositoryRoot(), "models"),
                ["Serilog:MinimumLevel:Default"] = "Warning",
            }));
    }

    public static string RepositoryRoot() => FashionMnistFixture.FindRepositoryRoot();

    [Fact]
    public async Task Every_committed_model_loads_and_the_default_classifier_answers()
    {
        using var factory = new RepositoryModelsFactory();
        var client = factory.CreateClient();
        var repository = factory.Services.GetRequiredService<ModelRepository>();
        await repository.Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        await repository.ExplanationsChecked.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.NotEmpty(repository.Models);
        Assert.All(repository.Models, m => Assert.True(m.State == ModelState.Ready, $"{m.Name}: {m.Error}"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);

        var form = new MultipartFormDataContent { { new ByteArrayContent(TestImages.Png(28, 28, gray: true)), "image", "item.png" } };
        var result = await (await client.PostAsync("/classify", form)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("rff-cnn-fashion-gap", result.GetProperty("model").GetString());
        Assert.Equal(5, result.GetProperty("predictions").GetArrayLength());
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_default_detector_finds_and_names_every_item_of_the_sample_canvases_once()
    {
        using var factory = new RepositoryModelsFactory();
        var client = factory.CreateClient();
        await factory.Services.GetRequiredService<ModelRepository>().Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        var canvases = Directory.GetFiles(Path.Combine(RepositoryRoot(), "samples"), "canvas-*.png").Order().ToList();
        Assert.NotEmpty(canvases);
        var report = new List<string>();
        int items = 0, foundOnce = 0, labelledRight = 0, extra = 0;
        foreach (string canvas in canvases)
        {
            var truth = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(canvas, ".json"))).RootElement.EnumerateArray()
                .Select(o => (Label: o.GetProperty("label").GetString()!, Box: DetectionJson.Corners(o.GetProperty("box")))).ToList();
            var form = new MultipartFormDataContent { { new ByteArrayContent(File.ReadAllBytes(canvas)), "image", Path.GetFileName(canvas) } };
            var answer = await client.PostAsync("/detect", form); // the service's defaults, as the demo page asks
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var found = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detections").EnumerateArray()
                .Select(d => (Label: d.GetProperty("label").GetString()!, Box: DetectionJson.PixelBox(d.GetProperty("box")), Score: d.GetProperty("score").GetDouble())).ToList();
            items += truth.Count;
            foundOnce += truth.Count(t => found.Count(f => Box.IoU(f.Box, t.Box) >= 0.5) == 1);
            labelledRight += truth.Count(t => found.Count(f => Box.IoU(f.Box, t.Box) >= 0.5 && f.Label == t.Label) == 1);
            extra += found.Count(f => !truth.Any(t => Box.IoU(f.Box, t.Box) >= 0.5));
            report.Add($"{Path.GetFileName(canvas)}: truth {string.Join("; ", truth.Select(t => $"{t.Label} [{t.Box.XMin},{t.Box.YMin},{t.Box.XMax},{t.Box.YMax}]"))}; " +
                       $"found {string.Join("; ", found.Select(f => $"{f.Label} {f.Score:F2} [{f.Box.XMin:F0},{f.Box.YMin:F0},{f.Box.XMax:F0},{f.Box.YMax:F0}]"))}");
        }
        string shown = $"{foundOnce}/{items} found once, {labelledRight}/{items} labelled right, {extra} extra\n" + string.Join("\n", report);
        // One label per object (the detector's crossClassIou), each the item's own, and nothing where no item is.
        Assert.True(foundOnce == items && labelledRight == items && extra == 0, shown);
        output.WriteLine(shown);
    }
}
