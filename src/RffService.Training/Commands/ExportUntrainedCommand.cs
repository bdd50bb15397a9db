using System.CommandLine;
using System.Text.Json;
using RffService.Onnx;
using RffService.Vision.Configuration;

namespace RffService.Training.Commands;

/// <summary>
/// Writes an untrained RFF-CNN (seeded random RFF layers and readout) with a config marked "trained": false,
/// so the service has a model to serve before any training has run.
/// </summary>
public static class ExportUntrainedCommand
{
    public static readonly string[] FashionLabels =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static Command Create()
    {
        var command = new Command("export-untrained",
            "Writes models/<name>/config.json and models/<name>/<version>/model.onnx for an untrained 28x28 gray RFF-CNN (RffConv 1->32 k5, " +
            "max-pool 2, RffConv 32->64 k3, max-pool 2, GAP, linear) marked \"trained\": false. Refuses to overwrite an existing version.");
        var models = Opt.Models();
        var name = Opt.Of("--name", "rff-cnn-untrained", "model name");
        var version = Opt.Version();
        var seed = Opt.Of("--seed", 42, "random seed");
        var force = Opt.Flag("--force", "overwrite the version folder if it exists");
        foreach (var option in new Option[] { models, name, version, seed, force }) command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(version), parse.GetValue(seed), parse.GetValue(force)));
        return command;
    }

    private static int Run(string root, string name, int version, int seed, bool force)
    {
        Evaluation.ModelExporter.RefuseOverwrite(root, name, version, force);

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
            Task = ModelTasks.Classification,
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
