using System.CommandLine;
using System.Diagnostics;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

/// <summary>Trains the RFF-SSD detector on multi-object Fashion-MNIST canvases, exports it, and evaluates it on held-out canvases.</summary>
public static class TrainDetectorCommand
{
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

        var trained = new SsdTrainer(settings, labels).Train(new CanvasGenerator(train, settings.CanvasSize, CanvasSeeds.Train), FashionMnist.Normalisation);
        double trainingSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"chosen: class lambda {trained.ClassLambda:G3}, box lambda {trained.BoxLambda:G3}, temperature {trained.Temperature:F2}; validation {trained.Validation}");

        DetectorExporter.Export(trained, settings, labels, models, name, version);
        var report = DetectorEvaluator.Evaluate(models, name, new CanvasGenerator(test, settings.CanvasSize, CanvasSeeds.Test), testCount, labels);
        Console.WriteLine($"test: {report}");
        DetectorExporter.WriteCard(trained, settings, report, models, name, version, trainingSeconds);
        return 0;
    }
}
