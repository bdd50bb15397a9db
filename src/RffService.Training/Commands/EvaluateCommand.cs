using System.CommandLine;
using RffService.Training.Data;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

public static class EvaluateCommand
{
    public static Command Create()
    {
        var command = new Command("evaluate",
            "Accuracy, per-class accuracy and confusion matrix of a model on the 10,000 held-out Fashion-MNIST test images, each encoded as " +
            "PNG and run with the service's decoding, pre-processing and post-processing, or through a running service with --service.");
        var models = Opt.Models();
        var name = Opt.Of("--name", "rff-cnn-fashion", "model");
        var data = Opt.Data();
        var service = Opt.Of("--service", "", "evaluate through a running service instead, e.g. http://localhost:5080");
        foreach (var option in new Option[] { models, name, data, service }) command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(data)!, parse.GetValue(service)!));
        return command;
    }

    private static int Run(string models, string name, string dataRoot, string service)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
        var report = service.Length > 0
            ? ModelEvaluator.OverHttp(new Uri(service), name, test)
            : ModelEvaluator.InProcess(models, name, test);
        Console.WriteLine(report.Format());
        return 0;
    }
}
