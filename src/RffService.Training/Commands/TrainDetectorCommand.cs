using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RffService.Onnx;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;

namespace RffService.Training.Commands;

/// <summary>Trains the RFF-SSD detector on multi-object Fashion-MNIST canvases, exports it, and evaluates it on held-out canvases.</summary>
public static class TrainDetectorCommand
{
    public const int TrainSeed = 1, TestSeed = 1001;

    public static Command Create()
    {
        var command = new Command("train-detector",
            "Trains the RFF-SSD detector in closed form (pure random features): builds canvases (training canvases from the training split " +
            "only), computes the random RffConv backbone's feature maps once, fits the SSD class and box heads by ridge (3:1 negatives, two " +
            "thirds hard-mined), chooses the penalties and the softmax temperature on held-out training canvases, exports models/<name>/ and " +
            "evaluates mAP@0.5 and COCO mAP on test canvases built from the test split only.");
        var data = Opt.Data();
        var canvases = Opt.Of("--canvases", 6000, "training canvases");
        var validation = Opt.Of("--validation", 500, "held-out training canvases for the penalties and temperature");
        var test = Opt.Of("--test", 1000, "test canvases");
        var width1 = Opt.Of("--width1", 64, "first RffConv width");
        var width2 = Opt.Of("--width2", 512, "second RffConv width");
        var sigma1 = Opt.Of("--sigma1", 5f, "first RffConv bandwidth");
        var sigma2 = Opt.Of("--sigma2", 8f, "second RffConv bandwidth");
        var minScale = Opt.Of("--min-scale", 0.15f, "smallest prior scale");
        var maxScale = Opt.Of("--max-scale", 0.55f, "largest prior scale");
        var classLambdas = Opt.Doubles("--class-lambdas", [3e-6, 1e-5, 3e-5], "ridge penalties tried for the class heads");
        var boxLambdas = Opt.Doubles("--box-lambdas", [3e-3, 1e-2, 3e-2], "ridge penalties tried for the box heads");
        var seed = Opt.Of("--seed", 1, "seed of the random features");
        var models = Opt.Models();
        var name = Opt.Of("--name", "rff-ssd-closed-form", "model name");
        var version = Opt.Version();
        var force = Opt.Flag("--force", "overwrite the version folder if it exists");
        foreach (var option in new Option[] { data, canvases, validation, test, width1, width2, sigma1, sigma2, minScale, maxScale, classLambdas, boxLambdas, seed,
                     models, name, version, force })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var settings = new SsdTrainingOptions
            {
                TrainCanvases = parse.GetValue(canvases),
                ValidationCanvases = parse.GetValue(validation),
                Width1 = parse.GetValue(width1),
                Width2 = parse.GetValue(width2),
                Sigma1 = parse.GetValue(sigma1),
                Sigma2 = parse.GetValue(sigma2),
                MinScale = parse.GetValue(minScale),
                MaxScale = parse.GetValue(maxScale),
                Seed = parse.GetValue(seed),
                ClassLambdas = parse.GetValue(classLambdas)!,
                BoxLambdas = parse.GetValue(boxLambdas)!,
            };
            return Run(settings, parse.GetValue(data)!, parse.GetValue(test), parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(version),
                parse.GetValue(force));
        });
        return command;
    }

    private static int Run(SsdTrainingOptions settings, string data, int testCount, string models, string name, int version, bool force)
    {
        Evaluation.ModelExporter.RefuseOverwrite(models, name, version, force);
        var clock = Stopwatch.StartNew();
        var train = ImageDataset.Load(DataPaths.FashionTrain(data));
        var test = ImageDataset.Load(DataPaths.FashionTest(data));
        var labels = train.Classes;
        Console.WriteLine(settings.Describe());

        var trained = new SsdTrainer(settings, labels).Train(new CanvasGenerator(train, settings.CanvasSize, TrainSeed), TrainClassifierCommand.FashionNormalisation);
        double trainingSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"chosen: class lambda {trained.ClassLambda:G3}, box lambda {trained.BoxLambda:G3}, temperature {trained.Temperature:F2}; validation {trained.Validation}");

        Export(trained, settings, labels, models, name, version);
        var report = DetectorEvaluator.Evaluate(models, name, new CanvasGenerator(test, settings.CanvasSize, TestSeed), testCount, labels);
        Console.WriteLine($"test: {report}");
        WriteCard(trained, settings, report, models, name, version, trainingSeconds);
        return 0;
    }

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
        var normalisation = TrainClassifierCommand.FashionNormalisation;
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

    private static void WriteCard(TrainedDetector trained, SsdTrainingOptions settings, DetectionReport test, string models, string name, int version, double seconds)
    {
        string directory = Path.Combine(models, name, version.ToString(CultureInfo.InvariantCulture));
        var card = new
        {
            name,
            version,
            data = $"{settings.TrainCanvases} training canvases (+{settings.ValidationCanvases} validation) from the Fashion-MNIST training split " +
                   $"(seed {TrainSeed}); {test.Images} test canvases from the test split (seed {TestSeed})",
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
