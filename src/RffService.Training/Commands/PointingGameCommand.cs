using RffService.Training.Data;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

public sealed class PointingGameCommand : ICommand
{
    public string Name => "pointing-game";
    public string Summary => "localisation of each CAM method on 56x56 canvases of held-out items";
    public string Help => """
        pointing-game: places held-out Fashion-MNIST items (native 28x28) off-centre on black 56x56 canvases and
        reports, per CAM method, how often the heatmap's peak falls inside the item's box, explaining the true class.
        The canvases go through the service's path: stretched to the model's input, explained, mapped back to 56x56.

          --models <dir>     model repository (default: models)
          --name <name>      model (default: rff-cnn-fashion)
          --data <dir>       data cache (default: data)
          --count <n>        canvases (default: 1000)
          --seed <n>         canvas seed (default: 5)
          --methods <a,b>    (default: cam,gradcam,gradcampp,layercam,scorecam,ablationcam)
          --layer <name>     RFF layer (default: the last)
        """;

    public int Execute(CommandLine options)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(options.String("data", DataPaths.DefaultRoot)));
        var canvases = PointingGame.Canvases(test, options.Int("count", 1000), options.Int("seed", 5));
        var methods = options.String("methods", "cam,gradcam,gradcampp,layercam,scorecam,ablationcam").Split(',');
        string layer = options.String("layer", "");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var rates = PointingGame.Play(options.String("models", "models"), options.String("name", "rff-cnn-fashion"), canvases, methods,
            layer.Length > 0 ? layer : null);
        Console.WriteLine($"pointing game on {canvases.Count} canvases ({clock.Elapsed.TotalSeconds:F0} s):");
        foreach (var (method, rate) in rates) Console.WriteLine($"  {method,-12} {rate:P1}");
        return 0;
    }
}
