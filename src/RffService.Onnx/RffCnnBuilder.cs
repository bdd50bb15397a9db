using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>Builds the ONNX graph of an <see cref="RffCnnSpec"/>: input "input" [N, C, H, W] -> output "logits" [N, K].</summary>
public static class RffCnnBuilder
{
    public const string InputName = "input";
    public const string OutputName = "logits";

    public static ModelProto Build(RffCnnSpec spec, string graphName = "rff_cnn", IDictionary<string, string>? metadata = null)
    {
        var builder = new GraphBuilder(graphName)
            .Input(InputName, [null, spec.InputChannels, spec.InputHeight, spec.InputWidth])
            .Output(OutputName, [null, spec.Classes]);

        string current = InputName;
        for (int i = 0; i < spec.Layers.Count; i++)
        {
            var layer = spec.Layers[i];
            string name = $"rff{i + 1}";
            builder.RffConv(name, current, name, layer.Weights, [layer.OutChannels, layer.InChannels, layer.Kernel, layer.Kernel],
                layer.Bias, layer.Attributes);
            current = name;
            if (layer.PoolSize > 1)
            {
                string pooled = $"pool{i + 1}";
                builder.Node("MaxPool", [current], [pooled], pooled, "",
                    Attributes.Ints("kernel_shape", layer.PoolSize, layer.PoolSize),
                    Attributes.Ints("strides", layer.PoolSize, layer.PoolSize));
                current = pooled;
            }
        }

        builder.Node("GlobalAveragePool", [current], ["gap"], "gap")
            .Node("Flatten", ["gap"], ["features"], "flatten", "", Attributes.Int("axis", 1))
            .Initializer("readout.W", [spec.Classes, spec.Features], spec.ReadoutWeights)
            .Initializer("readout.B", [spec.Classes], spec.ReadoutBias)
            .Node("Gemm", ["features", "readout.W", "readout.B"], [OutputName], "readout", "", Attributes.Int("transB", 1));

        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            builder.Metadata(key, value);
        return builder.Build();
    }
}
