using RffService.TestSupport;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;
using RffService.Vision.Detection;

namespace RffService.Training.Tests;

[Trait("Category", "Slow")]
[Trait("Needs", "Data set")]
public class DetectorTrainingEndToEndTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>, IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "rff-ssd-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void A_small_detector_trains_exports_loads_and_the_service_path_agrees_with_the_trainer()
    {
        var settings = new SsdTrainingOptions
        {
            TrainCanvases = 300,
            ValidationCanvases = 60,
            Width1 = 8,
            Width2 = 32,
            ClassLambdas = [1e-3],
            BoxLambdas = [1e-2],
        };
        var labels = data.Test.Classes;
        var generator = new CanvasGenerator(data.Test, settings.CanvasSize, seed: 3);
        var trained = new SsdTrainer(settings, labels).Train(generator, FashionMnist.Normalisation);

        DetectorExporter.Export(trained, settings, labels, _models, "ssd", 1);

        // The exported graph, run by the service's detection path on PNGs of the validation canvases, must reproduce the
        // trainer's own (managed) validation result: same features, same heads, same decoder.
        var viaService = DetectorEvaluator.Evaluate(_models, "ssd", generator, settings.ValidationCanvases, labels, first: settings.TrainCanvases);
        Assert.Equal(trained.Validation.MapAt50, viaService.MapAt50, 2);
        Assert.Equal(trained.Validation.Objects, viaService.Objects);
        // This tiny closed-form detector (seeded: validation mAP@0.5 0.234, class-agnostic AP 0.339) must keep finding
        // and naming objects: a broken head, decoder or prior layout falls far below these floors.
        Assert.True(viaService.ClassAgnosticApAt50 > 0.25, $"class-agnostic AP@0.5 {viaService.ClassAgnosticApAt50:F3}");
        Assert.True(viaService.MapAt50 > 0.15, $"mAP@0.5 {viaService.MapAt50:F3}");
        Assert.Equal(PriorGenerator.Count(trained.Priors), trained.Spec.Heads.Select((h, m) => trained.Spec.MapSizes()[m] * trained.Spec.MapSizes()[m] * h.Anchors).Sum());
    }

    public void Dispose()
    {
        if (Directory.Exists(_models)) Directory.Delete(_models, recursive: true);
    }
}
