using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Onnx.Proto;
using RffService.TestSupport;
using RffService.Vision.Configuration;

namespace RffService.Inference.Tests;

/// <summary>
/// Models that take uint8 pixels (normalising inside the graph) or float16 tensors load and classify as their float32
/// twin does; a uint8 model's config cannot ask for a normalisation the graph already does.
/// </summary>
public class InputTypeTests
{
    /// <summary>
    /// Cast to float, (x / 255 - 0.5) / 0.25, global average pool, a linear readout; with the input (and, for float16,
    /// the output) declared as <paramref name="type"/>.
    /// </summary>
    private static ModelProto Classifier(TensorProto.Types.DataType type)
    {
        var model = new GraphBuilder("typed")
            .Input("pixels", [null, 3, 16, 16]).Output("scores", [null, 3])
            .Node("Cast", ["pixels"], ["x"], attributes: Attributes.Int("to", (long)TensorProto.Types.DataType.Float))
            .Node("Div", ["x", "k255"], ["unit"]).Initializer("k255", [], [255f])
            .Node("Sub", ["unit", "half"], ["centred"]).Initializer("half", [], [0.5f])
            .Node("Div", ["centred", "quarter"], ["normalised"]).Initializer("quarter", [], [0.25f])
            .Node("GlobalAveragePool", ["normalised"], ["pooled"])
            .Node("Flatten", ["pooled"], ["flat"])
            .Initializer("w", [3, 3], [20f, -10f, 0f, 0f, 30f, -20f, -10f, 0f, 20f])
            .Node("Gemm", ["flat", "w"], [type == TensorProto.Types.DataType.Float16 ? "logits" : "scores"], attributes: Attributes.Int("transB", 1))
            .Metadata("labels", "red,green,blue")
            .Build();
        model.Graph.Input[0].Type.TensorType.ElemType = (int)type;
        if (type == TensorProto.Types.DataType.Float16)
        {
            var cast = new NodeProto { OpType = "Cast", Name = "to_half" };
            cast.Input.Add("logits");
            cast.Output.Add("scores");
            cast.Attribute.Add(Attributes.Int("to", (long)TensorProto.Types.DataType.Float16));
            model.Graph.Node.Add(cast);
            model.Graph.Output[0].Type.TensorType.ElemType = (int)type;
        }
        return model;
    }

    private static ModelConfig Config(float[] mean, float[] std) => new()
    {
        Task = ModelTasks.Classification,
        Labels = ["red", "green", "blue"],
        Input = new InputConfig { Width = 16, Height = 16, Channels = 3, Mean = mean, Std = std },
    };

    [Fact]
    public async Task Uint8_and_float16_inputs_classify_as_their_float32_twin()
    {
        using var models = new TestModelRepository()
            .AddGraph("float", Classifier(TensorProto.Types.DataType.Float), Config([0f], [1f / 255f]))
            .AddGraphOnly("uint8-inferred", Classifier(TensorProto.Types.DataType.Uint8))
            .AddGraph("uint8-config", Classifier(TensorProto.Types.DataType.Uint8), Config([0f], [1f]))
            .AddGraph("float16", Classifier(TensorProto.Types.DataType.Float16), Config([0f], [1f / 255f]))
            .AddGraph("uint8-normalised-twice", Classifier(TensorProto.Types.DataType.Uint8), Config([0.5f], [0.25f]));
        await using var services = TestServices.Load(models.Root, defaultModel: "float");

        var image = TestImages.Png(20, 12);
        float[] Probabilities(string model) =>
            services.Classifier.ClassifyAsync([image], model, topK: 3).GetAwaiter().GetResult()[0].Predictions.OrderBy(p => p.Index).Select(p => p.Probability).ToArray();
        var expected = Probabilities("float");
        Assert.True(expected.Max() - expected.Min() > 0.05, "the test needs distinct probabilities");
        Assert.Equal(expected, Probabilities("uint8-inferred"), (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Equal(expected, Probabilities("uint8-config"), (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Equal(expected, Probabilities("float16"), (a, b) => Math.Abs(a - b) < 2e-3); // half precision

        // Explanations convert the input inside their graphs (TorchvisionFamilyTests compares them with torch): this
        // model has no feature map to explain, and that, not its input type, is what its explanations say.
        Assert.Contains("no 4-D feature map", services.Model("uint8-config").Runtime!.Explanations.Error);
        var refused = services.Model("uint8-normalised-twice");
        Assert.Equal(ModelState.Failed, refused.State);
        Assert.Contains("leave input.mean and input.std out", refused.Error);
    }

    /// <summary>The float32 classifier behind a Transpose from channels last, as Keras-style exports start.</summary>
    private static ModelProto ChannelsLast()
    {
        var model = Classifier(TensorProto.Types.DataType.Float);
        model.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue = 16;
        model.Graph.Input[0].Type.TensorType.Shape.Dim[3].DimValue = 3;
        var transpose = new NodeProto { OpType = "Transpose", Name = "to_nchw" };
        transpose.Input.Add("pixels");
        transpose.Output.Add("pixels_nchw");
        transpose.Attribute.Add(Attributes.Ints("perm", 0, 3, 1, 2));
        model.Graph.Node[0].Input[0] = "pixels_nchw";
        model.Graph.Node.Insert(0, transpose);
        model.MetadataProps.Add(new StringStringEntryProto { Key = "mean", Value = "0" });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "std", Value = "0.00392156863" });
        return model;
    }

    [Fact]
    public async Task A_channels_last_input_is_recognised_and_fed_transposed()
    {
        using var models = new TestModelRepository()
            .AddGraph("nchw", Classifier(TensorProto.Types.DataType.Float), Config([0f], [1f / 255f]))
            .AddGraphOnly("nhwc-inferred", ChannelsLast())
            .AddGraph("nhwc-config", ChannelsLast(), Config([0f], [1f / 255f]) with { Input = Config([0f], [1f / 255f]).Input with { Layout = "NHWC" } })
            .AddGraph("nhwc-said-nchw", ChannelsLast(), Config([0f], [1f / 255f]));
        await using var services = TestServices.Load(models.Root, defaultModel: "nchw");

        var inferred = services.Model("nhwc-inferred").Config!.Input;
        Assert.Equal(("NHWC", 3, 16, 16), (inferred.Layout, inferred.Channels, inferred.Width, inferred.Height));
        var image = TestImages.Png(20, 12);
        float[] Probabilities(string model) =>
            services.Classifier.ClassifyAsync([image, image], model, topK: 3).GetAwaiter().GetResult()[1].Predictions.OrderBy(p => p.Index).Select(p => p.Probability).ToArray();
        var expected = Probabilities("nchw");
        Assert.Equal(expected, Probabilities("nhwc-inferred"), (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Equal(expected, Probabilities("nhwc-config"), (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Contains("no 4-D feature map", services.Model("nhwc-config").Runtime!.Explanations.Error);
        // A config that says NCHW for a channels-last input is caught at load, naming the mismatch.
        Assert.Equal(ModelState.Failed, services.Model("nhwc-said-nchw").State);
        Assert.Contains("channels", services.Model("nhwc-said-nchw").Error);
    }
}
