using System.CommandLine;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

/// <summary>Measures an exported detector's mAP on held-out canvases through the service's code path.</summary>
public static class EvaluateDetectorCommand
{
    public static Command Create()
    {
        var command = new Command("evaluate-detector",
            "mAP@0.5 (VOC all-point), COCO mAP@[.5:.95] and per-class AP of a detector on held-out test canvases (test-split items only, " +
            "the seed train-detector uses), each run as PNG with the service's decoding, pre-processing and post-processing.");
        var data = Opt.Data();
        var models = Opt.Models();
        var name = Opt.Of("--name", "rff-ssd-fashion", "model");
        var count = Opt.Of("--test", 1000, "test canvases");
        foreach (var option in new Option[] { data, models, name, count }) command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(data)!, parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(count)));
        return command;
    }

    private static int Run(string dataRoot, string models, string name, int count)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
        var report = DetectorEvaluator.Evaluate(models, name, new CanvasGenerator(test, 128, CanvasSeeds.Test), count, test.Classes);
        Console.WriteLine(report);
        return 0;
    }
}
