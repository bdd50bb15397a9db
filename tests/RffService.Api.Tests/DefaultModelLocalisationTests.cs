using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.TestSupport;
using RffService.Training.Evaluation;

namespace RffService.Api.Tests;

/// <summary>The committed default classifier's explanations, on held-out Fashion-MNIST items, through the service.</summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Model quality")]
public class DefaultModelLocalisationTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    /// <summary>
    /// Run with the fully convolutional model rff-cnn-fashion-gap (global average pooling, dynamicSize, trained end to end
    /// to point at the item): each 56x56 canvas is explained at its own size with the default blank baseline; cam and
    /// layercam on the default layer (the last RFF layer).
    /// </summary>
    [Fact]
    public async Task Pointing_game_cam_and_layercam_peaks_fall_on_the_item_in_at_least_88_percent_of_canvases()
    {
        var canvases = PointingCanvases.Canvases(data.Test, count: 200, seed: 11);
        Assert.True(canvases.Count >= 195);
        await using var factory = new DefaultModelsTests.RepositoryModelsFactory();
        await factory.Services.GetRequiredService<ModelRepository>().Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        await factory.Services.GetRequiredService<ModelRepository>().ExplanationsChecked.WaitAsync(TimeSpan.FromSeconds(120));
        var cam = factory.Services.GetRequiredService<CamService>();

        double cam1 = await HitRate(cam, canvases, "cam", null);
        double layerCam = await HitRate(cam, canvases, "layercam", null);

        Assert.True(cam1 >= 0.88, $"cam pointing-game rate {cam1:P1}");
        Assert.True(layerCam >= 0.88, $"layercam pointing-game rate {layerCam:P1}");
    }

    private static async Task<double> HitRate(CamService cam, IReadOnlyList<PointingCanvas> canvases, string method, string? layer)
    {
        int hits = 0;
        foreach (var canvas in canvases)
        {
            var result = await cam.ExplainAsync(canvas.Png, new CamRequest("rff-cnn-fashion-gap", canvas.Label.ToString(), CamMethod.All[method], layer, MeasureFaithfulness: false));
            var (y, x) = result.Map.Peak();
            if (x >= canvas.Left && x <= canvas.Right && y >= canvas.Top && y <= canvas.Bottom) hits++;
        }
        return (double)hits / canvases.Count;
    }
}
