using RffService.Training.Data;
using RffService.Training.Detection;

namespace RffService.Training.Commands;

/// <summary>Measures an exported detector's mAP on held-out canvases through the service's code path.</summary>
public sealed class EvaluateDetectorCommand : ICommand
{
    public string Name => "evaluate-detector";
    public string Summary => "mAP@0.5 (VOC) and COCO mAP@[.5:.95] of a detector on held-out test canvases";
    public string Help => """
        evaluate-detector: builds the test canvases (test split items only, the same seed as train-detector uses) and
        runs them as PNG through the service's detection code path; prints mAP@0.5 (all-point), COCO mAP and per-class AP.

          --data <dir>      data cache (default: data)
          --models <dir>    model repository (default: models)
          --name <name>     model (default: rff-ssd-fashion)
          --test <n>        test canvases (default: 1000)
        """;

    public int Execute(CommandLine options)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(options.String("data", DataPaths.DefaultRoot)));
        var report = DetectorEvaluator.Evaluate(options.String("models", "models"), options.String("name", "rff-ssd-fashion"),
            new CanvasGenerator(test, 128, TrainDetectorCommand.TestSeed), options.Int("test", 1000), test.Classes);
        Console.WriteLine(report);
        return 0;
    }
}
