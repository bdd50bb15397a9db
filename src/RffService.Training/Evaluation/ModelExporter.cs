using System.Text.Json;
using RffService.Onnx;
using RffService.Training.Features;
using RffService.Vision.Configuration;

using RffService.Training.Common;
namespace RffService.Training.Evaluation;

/// <summary>Writes a trained RFF-CNN into the model repository: config.json, &lt;version&gt;/model.onnx and the model card.</summary>
public sealed class ModelExporter(string root, string name, int version)
{
    public string ModelDirectory => Path.Combine(root, name);

    /// <summary>Stops before anything is written when the version folder already holds a model, unless <paramref name="force"/>.</summary>
    public static void RefuseOverwrite(string root, string name, int version, bool force)
    {
        string existing = Path.Combine(root, name, version.ToString(), "model.onnx");
        if (File.Exists(existing) && !force)
            throw new ArgumentException($"{existing} exists; choose another --name or --version, or pass --force to overwrite it " +
                                        "(a running service would reload the new files).");
    }
    public string VersionDirectory => Path.Combine(root, name, version.ToString());

    /// <param name="dynamicSize">Export a fully convolutional model that runs at each image's own size (needs --grid 1).</param>
    public void Export(RffCnnSpec spec, IReadOnlyList<string> labels, Normalisation normalisation, RffCnnArchitecture architecture, double lambda, bool mirror,
        bool dynamicSize = false)
    {
        var model = RffCnnBuilder.Build(spec, "rff_cnn", new Dictionary<string, string>
        {
            ["rff.trained"] = "true",
            ["rff.architecture"] = architecture.Describe(),
            ["rff.seed"] = architecture.Seed.ToString(),
            ["rff.lambda"] = lambda.ToString("G6"),
            ["rff.mirror"] = mirror.ToString(),
        }, dynamicSize);
        OnnxModelFile.Save(model, Path.Combine(VersionDirectory, "model.onnx"));
        var config = new ModelConfig
        {
            Task = ModelTasks.Classification,
            Trained = true,
            Description = $"RFF-CNN: {architecture.Describe()}; ridge readout (lambda {lambda:G3}). See {version}/model-card.md.",
            Labels = labels.ToArray(),
            Input = new InputConfig
            {
                Name = RffCnnBuilder.InputName,
                Width = spec.InputWidth,
                Height = spec.InputHeight,
                Channels = 1,
                Mean = [normalisation.Mean],
                Std = [normalisation.Std],
                Resize = "stretch",
                DynamicSize = dynamicSize,
            },
            Output = new OutputConfig { Name = RffCnnBuilder.OutputName },
        };
        File.WriteAllText(Path.Combine(ModelDirectory, "config.json"), JsonSerializer.Serialize(config, ModelConfig.JsonOptions) + "\n");
    }

    public void WriteModelCard(ModelCard card)
    {
        File.WriteAllText(Path.Combine(VersionDirectory, "model-card.json"), JsonSerializer.Serialize(card, ModelConfig.JsonOptions) + "\n");
        File.WriteAllText(Path.Combine(VersionDirectory, "model-card.md"), card.ToMarkdown());
    }
}
