using System.Globalization;
using System.Text.Json;
using RffService.Onnx;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Vision.Configuration;

namespace RffService.Training.Evaluation;

/// <summary>Writes a trained RFF-SSD detector into the model repository: &lt;version&gt;/model.onnx, config.json and the model card.</summary>
public static class DetectorExporter
{
    public static void Export(TrainedDetector trained, SsdTrainingOptions settings, IReadOnlyList<string> labels, string models, string name, int version)
    {
        string directory = Path.Combine(models, name);
        var model = RffSsdBuilder.Build(trained.Spec, new Dictionary<string, string>
        {
            ["rff.trained"] = "true",
            ["rff.architecture"] = settings.Describe(),
            ["rff.seed"] = settings.Seed.ToString(CultureInfo.InvariantCulture),
        });
        OnnxModelFile.Save(model, Path.Combine(directory, version.ToString(CultureInfo.InvariantCulture), "model.onnx"));
        var normalisation = FashionMnist.Normalisation;
        var config = new ModelConfig
        {
            Task = ModelTasks.Detection,
            Description = $"RFF-SSD on multi-object Fashion-MNIST canvases: {settings.Describe()}. See {version}/model-card.md.",
            Labels = labels.ToArray(),
            Input = new InputConfig
            {
                Name = RffSsdBuilder.InputName,
                Width = settings.CanvasSize,
                Height = settings.CanvasSize,
                Channels = 1,
                Mean = [normalisation.Mean],
                Std = [normalisation.Std],
                Resize = "letterbox",
            },
            // Batches of 128x128 canvases run no faster per image on the CPU than single ones, and make the tail worse
            // (bench: p99 at 16 clients 835 ms batched, 268 ms one at a time), so the detector runs one image per run.
            Batching = new BatchingConfig { MaxBatchSize = 1 },
            Detection = new DetectionConfig
            {
                Layout = DetectionConfig.RawLayout,
                ScoresOutput = RffSsdBuilder.ScoresName,
                BoxesOutput = RffSsdBuilder.BoxesName,
                BackgroundClass = 0,
                Variances = [0.1f, 0.1f, 0.2f, 0.2f],
                Priors = trained.Priors,
            },
        };
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(config, ModelConfig.JsonOptions) + "\n");
    }

    public static void WriteCard(TrainedDetector trained, SsdTrainingOptions settings, DetectionReport test, string models, string name, int version, double seconds)
    {
        string directory = Path.Combine(models, name, version.ToString(CultureInfo.InvariantCulture));
        var card = new
        {
            name,
            version,
            data = $"{settings.TrainCanvases} training canvases (+{settings.ValidationCanvases} validation) from the Fashion-MNIST training split " +
                   $"(seed {CanvasSeeds.Train}); {test.Images} test canvases from the test split (seed {CanvasSeeds.Test})",
            architecture = settings.Describe(),
            settings,
            classLambda = trained.ClassLambda,
            boxLambda = trained.BoxLambda,
            temperature = trained.Temperature,
            validation = trained.Validation,
            test,
            trainingSeconds = Math.Round(seconds, 1),
            timings = trained.Timings,
            machine = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
        };
        File.WriteAllText(Path.Combine(directory, "model-card.json"), JsonSerializer.Serialize(card, ModelConfig.JsonOptions) + "\n");
        var md = new System.Text.StringBuilder();
        md.AppendLine($"# {name} (version {version})").AppendLine();
        md.AppendLine($"**Test: mAP@0.5 {test.MapAt50:F4} (VOC all-point), COCO mAP@[.5:.95] {test.CocoMap:F4}** on {test.Images} held-out canvases " +
                      $"({test.Objects} objects) through the service's code path (PNG -> decode -> ONNX Runtime -> softmax, decode, NMS; " +
                      $"score threshold {SsdTrainer.EvaluationScoreThreshold}, IoU {SsdTrainer.EvaluationIouThreshold}, at most {SsdTrainer.EvaluationMaxDetections} per image).").AppendLine();
        md.AppendLine($"- Data: {card.data}");
        md.AppendLine($"- Architecture: {settings.Describe()}");
        md.AppendLine($"- Heads: ridge regression in closed form, class lambda {trained.ClassLambda:G3}, box lambda {trained.BoxLambda:G3}, softmax temperature {trained.Temperature:F2} (chosen on validation canvases: mAP@0.5 {trained.Validation.MapAt50:F4})");
        md.AppendLine($"- Training wall time: {seconds:F0} s on {card.machine}");
        md.AppendLine().AppendLine("| class | AP@0.5 |").AppendLine("|---|---|");
        foreach (var (label, ap) in test.ApAt50PerClass) md.AppendLine($"| {label} | {ap:F4} |");
        md.AppendLine().AppendLine("Reproduce: `dotnet run --project src/RffService.Training -c Release -- train-detector` (defaults), " +
                                   $"or re-measure: `... -- evaluate-detector --name {name}`.");
        File.WriteAllText(Path.Combine(directory, "model-card.md"), md.ToString());
    }
}
