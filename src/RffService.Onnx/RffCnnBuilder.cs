using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>
/// Builds the ONNX graph of an <see cref="RffCnnSpec"/>: input "input" [N, C, H, W] -> output "logits" [N, K],
/// or, for feature extraction, the backbone alone: input -> "features" [N, D].
/// </summary>
public static class RffCnnBuilder
{
    public const string InputName = "input";
    public const string OutputName = "logits";
    public const string FeaturesName = "features";

    /// <param name="dynamicSize">Symbolic input height and width: the model runs at any image size (needs global average pooling).</param>
    public static ModelProto Build(RffCnnSpec spec, string graphName = "rff_cnn", IDictionary<string, string>? metadata = null, bool dynamicSize = false)
    {
        spec.Validate();
        if (dynamicSize && spec.ReadoutGrid != 1)
            throw new ArgumentException("Only a global-average-pooling readout (grid 1) runs at any input size.");
        var builder = new GraphBuilder(graphName)
            .Input(InputName, dynamicSize ? [null, spec.InputChannels, null, null] : [null, spec.InputChannels, spec.InputHeight, spec.InputWidth])
            .Output(OutputName, [null, spec.Classes]);
        AddBackbone(builder, spec);
        builder.Initializer("readout.W", [spec.Classes, spec.Features], spec.ReadoutWeights)
            .Initializer("readout.B", [spec.Classes], spec.ReadoutBias)
            .Node("Gemm", [FeaturesName, "readout.W", "readout.B"], [OutputName], "readout", "", Attributes.Int("transB", 1));
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            builder.Metadata(key, value);
        return builder.Build();
    }

    /// <summary>The RffConv layers and pooling, ending in the flattened readout features [N, D].</summary>
    public static ModelProto BuildBackbone(RffCnnSpec spec)
    {
        spec.Validate();
        var builder = new GraphBuilder("rff_cnn_backbone")
            .Input(InputName, [null, spec.InputChannels, spec.InputHeight, spec.InputWidth])
            .Output(FeaturesName, [null, spec.Features]);
        AddBackbone(builder, spec);
        return builder.Build();
    }

    private static void AddBackbone(GraphBuilder builder, RffCnnSpec spec)
    {
        string current = AddLayers(builder, spec.Layers, InputName);
        if (spec.ReadoutGrid == 1)
        {
            builder.Node("GlobalAveragePool", [current], ["readout_pool"], "readout_pool");
        }
        else
        {
            var (h, w) = spec.FinalMapSize();
            var (windowH, strideH) = spec.GridCell(h);
            var (windowW, strideW) = spec.GridCell(w);
            builder.Node("AveragePool", [current], ["readout_pool"], "readout_pool", "",
                Attributes.Ints("kernel_shape", windowH, windowW), Attributes.Ints("strides", strideH, strideW));
        }
        builder.Node("Flatten", ["readout_pool"], [FeaturesName], "flatten", "", Attributes.Int("axis", 1));
    }

    /// <summary>Adds the RffConv layers "rff1".. (each followed by its pooling) after <paramref name="input"/>; returns the last output.</summary>
    public static string AddLayers(GraphBuilder builder, IReadOnlyList<RffLayerSpec> layers, string input)
    {
        string current = input;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            string name = $"rff{i + 1}";
            builder.RffConv(name, current, name, layer.Weights, [layer.OutChannels, layer.InChannels, layer.Kernel, layer.Kernel],
                layer.Bias, layer.Attributes);
            current = name;
            if (layer.PoolSize > 1)
            {
                string pooled = $"pool{i + 1}";
                builder.Node(layer.Pool == PoolMode.Max ? "MaxPool" : "AveragePool", [current], [pooled], pooled, "",
                    Attributes.Ints("kernel_shape", layer.PoolSize, layer.PoolSize),
                    Attributes.Ints("strides", layer.PoolSize, layer.PoolSize));
                current = pooled;
            }
        }
        return current;
    }
}
