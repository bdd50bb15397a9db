using System.Text.Json;
using RffService.Inference.Models;
using RffService.Onnx;

namespace RffService.Training.Commands;

/// <summary>
/// Writes an untrained RFF-CNN (seeded random RFF layers and readout) with a config marked "trained": false,
/// so the service has a model to serve before any training has run.
/// </summary>
public sealed class ExportUntrainedCommand : ICommand
{
    public static readonly string[] FashionLabels =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public string Name => "export-untrained";
    public string Summary => "write a random (untrained) RFF-CNN placeholder model to the model repository";
    public string Help => """
        export-untrained: writes models/<name>/config.json and models/<name>/<version>/model.onnx for an
        untrained 28x28 gray RFF-CNN (RffConv 1->32 k5, max-pool 2, RffConv 32->64 k3, max-pool 2, GAP, linear).

          --models <dir>     model repository (default: models)
          --name <name>      model name (default: rff-cnn-fashion)
          --version <n>      version folder (default: 1)
          --seed <n>         random seed (default: 42)
        """;

    public int Execute(CommandLine options)
    {
        string root = options.String("models", "models");
        string name = options.String("name", "rff-cnn-fashion");
        int version = options.Int("version", 1);
        int seed = options.Int("seed", 42);

        var spec = Build(seed);
        var model = RffCnnBuilder.Build(spec, "rff_cnn_untrained", new Dictionary<string, string>
        {
            ["rff.trained"] = "false",
            ["rff.seed"] = seed.ToString(),
        });
        string directory = Path.Combine(root, name);
        OnnxModelFile.Save(model, Path.Combine(directory, version.ToString(), "model.onnx"));
        var config = new ModelConfig
        {
            Task = "classification",
            Trained = false,
            Description = $"UNTRAINED placeholder RFF-CNN (random readout, seed {seed}); its predictions are meaningless.",
            Labels = FashionLabels,
            Input = new InputConfig { Name = RffCnnBuilder.InputName, Width = 28, Height = 28, Channels = 1, Mean = [0.2860f], Std = [0.3530f] },
            Output = new OutputConfig { Name = RffCnnBuilder.OutputName },
        };
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(config, ModelConfig.JsonOptions) + "\n");
        Console.WriteLine($"Wrote untrained model '{name}' version {version} to {directory}");
        return 0;
    }

    public static RffCnnSpec Build(int seed)
    {
        var random = new Random(seed);
        var layers = new[]
        {
            RffLayerSpec.Random(1, 32, 5, sigma: 4f, poolSize: 2, random),
            RffLayerSpec.Random(32, 64, 3, sigma: 3f, poolSize: 2, random),
        };
        var readout = new float[FashionLabels.Length * 64];
        for (int i = 0; i < readout.Length; i++) readout[i] = (float)(RffLayerSpec.Gaussian(random) * 0.5);
        return new RffCnnSpec(1, 28, 28, layers, readout, new float[FashionLabels.Length]);
    }
}
