using System.Text.Json;
using RffService.Onnx;
using RffService.Vision.Configuration;

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

    /// <summary>The label of the tiny detectors.</summary>
    public const string BrightLabel = "bright";

    /// <summary>
    /// A tiny SSD on a 32x32 gray input: one 4x4 feature map (the 8x8 cell means), two priors per cell (scale 0.25 and
    /// its extra square, no aspect ratios). The first prior of a cell scores "bright" when the cell's mean exceeds 0.5
    /// (logits +-(10 mean - 5)); the second is always background. Offsets are 0, so a detection is exactly its cell.
    /// </summary>
    public static Onnx.Proto.ModelProto TinyDetector()
    {
        const int anchors = 2, classes = 2;
        var classWeights = new float[anchors * classes];
        var classBias = new float[anchors * classes];
        (classWeights[0], classBias[0]) = (-10f, 5f);  // anchor 0 background
        (classWeights[1], classBias[1]) = (10f, -5f);  // anchor 0 bright
        classBias[2] = 5f;                            // anchor 1 background
        classBias[3] = -5f;
        return new GraphBuilder("tiny_ssd")
            .Input("input", [null, 1, 32, 32])
            .Output("scores", [null, 32, classes])
            .Output("boxes", [null, 32, 4])
            .Initializer("cls.W", [anchors * classes, 1, 1, 1], classWeights)
            .Initializer("cls.B", [anchors * classes], classBias)
            .Initializer("box.W", [anchors * 4, 1, 1, 1], new float[anchors * 4])
            .Int64Initializer("cls.shape", [3], [0, -1, classes])
            .Int64Initializer("box.shape", [3], [0, -1, 4])
            .Node("AveragePool", ["input"], ["cells"], attributes: [Attributes.Ints("kernel_shape", 8, 8), Attributes.Ints("strides", 8, 8)])
            .Node("Conv", ["cells", "cls.W", "cls.B"], ["cls.conv"])
            .Node("Transpose", ["cls.conv"], ["cls.nhwc"], attributes: Attributes.Ints("perm", 0, 2, 3, 1))
            .Node("Reshape", ["cls.nhwc", "cls.shape"], ["scores"])
            .Node("Conv", ["cells", "box.W"], ["box.conv"])
            .Node("Transpose", ["box.conv"], ["box.nhwc"], attributes: Attributes.Ints("perm", 0, 2, 3, 1))
            .Node("Reshape", ["box.nhwc", "box.shape"], ["boxes"])
            .Build();
    }

    public static ModelConfig TinyDetectorConfig(string resize = "stretch") => new()
    {
        Task = "detection",
        Description = "bright 8x8 cells",
        Labels = [BrightLabel],
        Input = new InputConfig { Name = "input", Width = 32, Height = 32, Channels = 1, Mean = [0f], Std = [1f], Resize = resize },
        Detection = new DetectionConfig
        {
            Priors = new PriorConfig
            {
                MinScale = 0.25f,
                MaxScale = 0.25f,
                FeatureMaps = [new FeatureMapConfig { Width = 4, Height = 4, AspectRatios = [] }],
            },
        },
    };

    /// <summary>
    /// A detector that decodes in its graph (torchvision style, no batch axis): three fixed detections, boxes in input
    /// pixels as (y_min, x_min, y_max, x_max), labels counting background as 0, whatever the image.
    /// </summary>
    public static Onnx.Proto.ModelProto DecodedDetector() => new GraphBuilder("decoded_ssd")
        .Input("input", [null, 1, 32, 32])
        .Output("detection_boxes", [3, 4])
        .Output("detection_classes", [3], Onnx.Proto.TensorProto.Types.DataType.Int64)
        .Output("detection_scores", [3])
        .Initializer("boxes.value", [3, 4], [8, 4, 16, 12, 0, 0, 32, 32, 2, 2, 4, 4])
        .Int64Initializer("classes.value", [3], [1, 2, 1])
        .Initializer("scores.value", [3], [0.9f, 0.6f, 0.2f])
        .Node("Identity", ["boxes.value"], ["detection_boxes"])
        .Node("Identity", ["classes.value"], ["detection_classes"])
        .Node("Identity", ["scores.value"], ["detection_scores"])
        .Build();

    public static ModelConfig DecodedDetectorConfig() => TinyDetectorConfig() with
    {
        Labels = ["cat", "dog"],
        Detection = new DetectionConfig
        {
            Layout = "decoded",
            BoxesOutput = "detection_boxes",
            LabelsOutput = "detection_classes",
            ScoresOutput = "detection_scores",
            BoxFormat = "yxyx",
            Normalized = false,
            LabelOffset = 1,
        },
    };

    public TestModelRepository AddGraph(string name, Onnx.Proto.ModelProto model, ModelConfig config, int version = 1)
    {
        WriteConfig(name, config);
        OnnxModelFile.Save(model, ModelPath(name, version));
        return this;
    }

    /// <summary>A model folder without config.json: the service infers the configuration from the file, or says what is missing.</summary>
    public TestModelRepository AddGraphOnly(string name, Onnx.Proto.ModelProto model, int version = 1)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ModelPath(name, version))!);
        OnnxModelFile.Save(model, ModelPath(name, version));
        return this;
    }

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
