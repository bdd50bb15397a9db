using System.Text.Json;
using RffService.Inference.Models;
using RffService.Onnx;

namespace RffService.TestSupport;

/// <summary>A model repository in a temporary folder, filled with small models built by the graph builder.</summary>
public sealed class TestModelRepository : IDisposable
{
    public static readonly string[] Labels = ["circle", "square", "triangle"];

    public TestModelRepository()
    {
        Root = Path.Combine(Path.GetTempPath(), "rff-models-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    /// <summary>Two RffConv layers on a 16x16 gray input, three classes.</summary>
    public static RffCnnSpec TinySpec(int seed = 7, int channels = 1)
    {
        var random = new Random(seed);
        var layers = new[]
        {
            RffLayerSpec.Random(channels, 6, 3, sigma: 1.5f, poolSize: 2, random),
            RffLayerSpec.Random(6, 8, 3, sigma: 2f, poolSize: 1, random),
        };
        var readout = Enumerable.Range(0, Labels.Length * 8).Select(_ => (float)RffLayerSpec.Gaussian(random) * 3f).ToArray();
        return new RffCnnSpec(channels, 16, 16, layers, readout, [0.1f, -0.1f, 0f]);
    }

    public static ModelConfig TinyConfig(int channels = 1, string resize = "stretch", string task = "classification",
        IReadOnlyList<string>? labels = null) => new()
        {
            Task = task,
            Description = "test model",
            Labels = labels ?? Labels,
            Input = new InputConfig
            {
                Name = RffCnnBuilder.InputName,
                Width = 16,
                Height = 16,
                Channels = channels,
                Mean = Enumerable.Repeat(0.5f, channels).ToArray(),
                Std = Enumerable.Repeat(0.25f, channels).ToArray(),
                Resize = resize,
            },
            Output = new OutputConfig { Name = RffCnnBuilder.OutputName },
        };

    public TestModelRepository AddModel(string name, RffCnnSpec spec, ModelConfig config, int version = 1)
    {
        WriteConfig(name, config);
        OnnxModelFile.Save(RffCnnBuilder.Build(spec), ModelPath(name, version));
        return this;
    }

    public TestModelRepository AddModelBytes(string name, ModelConfig config, byte[] modelBytes, int version = 1)
    {
        WriteConfig(name, config);
        Directory.CreateDirectory(Path.GetDirectoryName(ModelPath(name, version))!);
        File.WriteAllBytes(ModelPath(name, version), modelBytes);
        return this;
    }

    public TestModelRepository AddRawConfig(string name, string configJson)
    {
        Directory.CreateDirectory(Path.Combine(Root, name));
        File.WriteAllText(Path.Combine(Root, name, "config.json"), configJson);
        return this;
    }

    public string ModelPath(string name, int version) => Path.Combine(Root, name, version.ToString(), "model.onnx");

    private void WriteConfig(string name, ModelConfig config)
    {
        Directory.CreateDirectory(Path.Combine(Root, name));
        File.WriteAllText(Path.Combine(Root, name, "config.json"), JsonSerializer.Serialize(config, ModelConfig.JsonOptions));
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
