using RffService.Training.Data;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

public sealed class EvaluateCommand : ICommand
{
    public string Name => "evaluate";
    public string Summary => "accuracy, per-class accuracy and confusion matrix of a model on the Fashion-MNIST test set";
    public string Help => """
        evaluate: classifies the 10,000 held-out test images, each encoded as PNG, through the service's code path
        (model repository, ONNX Runtime, the same pre-processing), or through a running service with --service.

          --models <dir>     model repository (default: models)
          --name <name>      model (default: rff-cnn-fashion)
          --data <dir>       data cache (default: data)
          --service <url>    evaluate through a running service instead, e.g. http://localhost:5080
        """;

    public int Execute(CommandLine options)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(options.String("data", DataPaths.DefaultRoot)));
        string name = options.String("name", "rff-cnn-fashion");
        string service = options.String("service", "");
        var report = service.Length > 0
            ? ModelEvaluator.OverHttp(new Uri(service), name, test)
            : ModelEvaluator.InProcess(options.String("models", "models"), name, test);
        Console.WriteLine(report.Format());
        return 0;
    }
}
