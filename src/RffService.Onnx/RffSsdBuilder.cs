using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>
/// Builds an RFF-SSD graph: input [N, C, S, S] -> "scores" [N, A, K+1] (raw, before softmax) and "boxes" [N, A, 4]
/// (centre-size offsets), priors ordered map, row, column, anchor. <see cref="BuildFeatureMaps"/> gives the backbone
/// alone with the feature maps as outputs (for training the heads).
/// </summary>
public static class RffSsdBuilder
{
    public const string InputName = "input";
    public const string ScoresName = "scores";
    public const string BoxesName = "boxes";

    public static string MapName(int index) => $"map{index + 1}";

    public static ModelProto Build(RffSsdSpec spec, IDictionary<string, string>? metadata = null)
    {
        var builder = Backbone(spec, "rff_ssd");
        var sizes = spec.MapSizes();
        var scores = new List<string>();
        var boxes = new List<string>();
        for (int m = 0; m < spec.Heads.Count; m++)
        {
            var head = spec.Heads[m];
            scores.Add(Head(builder, $"head{m + 1}.cls", MapName(m), spec.Channels, head.Anchors * spec.Classes, head.ClassWeights, head.ClassBias, spec.Classes));
            boxes.Add(Head(builder, $"head{m + 1}.box", MapName(m), spec.Channels, head.Anchors * 4, head.BoxWeights, head.BoxBias, 4));
        }
        int priors = spec.Heads.Select((h, m) => sizes[m] * sizes[m] * h.Anchors).Sum();
        builder.Node("Concat", scores.ToArray(), [ScoresName], "scores", "", Attributes.Int("axis", 1))
            .Node("Concat", boxes.ToArray(), [BoxesName], "boxes", "", Attributes.Int("axis", 1))
            .Output(ScoresName, [null, priors, spec.Classes])
            .Output(BoxesName, [null, priors, 4]);
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            builder.Metadata(key, value);
        return builder.Build();
    }

    /// <summary>The backbone with every feature map as an output [N, C, s, s].</summary>
    public static ModelProto BuildFeatureMaps(RffSsdSpec spec)
    {
        var builder = Backbone(spec, "rff_ssd_features");
        var sizes = spec.MapSizes();
        for (int m = 0; m < sizes.Length; m++) builder.Output(MapName(m), [null, spec.Channels, sizes[m], sizes[m]]);
        return builder.Build();
    }

    private static GraphBuilder Backbone(RffSsdSpec spec, string name)
    {
        var builder = new GraphBuilder(name).Input(InputName, [null, spec.InputChannels, spec.InputSize, spec.InputSize]);
        string current = RffCnnBuilder.AddLayers(builder, spec.Layers, InputName);
        for (int m = 0; m < spec.MapPools.Count; m++)
        {
            int pool = spec.MapPools[m];
            builder.Node("AveragePool", [current], [MapName(m)], MapName(m), "",
                Attributes.Ints("kernel_shape", pool, pool), Attributes.Ints("strides", pool, pool));
            current = MapName(m);
        }
        return builder;
    }

    /// <summary>A 3x3 convolution, then [N, A*k, H, W] -> [N, H*W*A, k] (cell-major, then anchor).</summary>
    private static string Head(GraphBuilder builder, string name, string map, int channels, int outputs, float[] weights, float[] bias, int perAnchor)
    {
        builder.Initializer($"{name}.W", [outputs, channels, 3, 3], weights)
            .Initializer($"{name}.B", [outputs], bias)
            .Int64Initializer($"{name}.shape", [3], [0, -1, perAnchor])
            .Node("Conv", [map, $"{name}.W", $"{name}.B"], [$"{name}.conv"], $"{name}.conv", "",
                Attributes.Ints("kernel_shape", 3, 3), Attributes.Ints("pads", 1, 1, 1, 1))
            .Node("Transpose", [$"{name}.conv"], [$"{name}.nhwc"], $"{name}.nhwc", "", Attributes.Ints("perm", 0, 2, 3, 1))
            .Node("Reshape", [$"{name}.nhwc", $"{name}.shape"], [name], $"{name}.reshape");
        return name;
    }
}
