using System.Globalization;
using RffService.Onnx;

namespace RffService.Training.Commands;

/// <summary>The architecture and random draw of an RFF-CNN, from command-line options.</summary>
/// <param name="Widths">Random features per layer.</param>
/// <param name="Kernels">Kernel side per layer.</param>
/// <param name="Pools">Pooling window after each layer (1 = none).</param>
/// <param name="Sigmas">Bandwidth per layer.</param>
public sealed record RffCnnOptions(int[] Widths, int[] Kernels, int[] Pools, float[] Sigmas, PoolMode Pool, int Grid, int Seed)
{
    public const string Help = """
          --widths <a,b,..>   random features per RffConv layer (default: 64,512)
          --kernels <a,b,..>  kernel side per layer (default: 5,3)
          --pools <a,b,..>    pooling window after each layer, 1 = none (default: 2,2)
          --sigmas <a,b,..>   bandwidth sigma per layer (default: 5,8)
          --pool avg|max      pooling between layers (default: avg)
          --grid <g>          average the last map over a g x g grid before the readout; 1 = global average (default: 2)
          --seed <n>          seed of the random weights and biases (default: 1)
        """;

    public static RffCnnOptions Parse(CommandLine options)
    {
        var widths = Ints(options.String("widths", "64,512"));
        var kernels = Ints(options.String("kernels", "5,3"));
        var pools = Ints(options.String("pools", "2,2"));
        var sigmas = Floats(options.String("sigmas", "5,8"));
        if (kernels.Length != widths.Length || pools.Length != widths.Length || sigmas.Length != widths.Length)
            throw new ArgumentException("--widths, --kernels, --pools and --sigmas need one value per layer.");
        var pool = options.String("pool", "avg") switch
        {
            "avg" => PoolMode.Average,
            "max" => PoolMode.Max,
            var other => throw new ArgumentException($"--pool must be avg or max, got '{other}'."),
        };
        return new RffCnnOptions(widths, kernels, pools, sigmas, pool, options.Int("grid", 2), options.Int("seed", 1));
    }

    public RffCnnOptions WithSigmas(float[] sigmas) => this with { Sigmas = sigmas };

    /// <summary>Draws the layers: W ~ N(0, 1), B ~ U[0, 2 pi), from the seed; the readout is left empty.</summary>
    public RffCnnSpec Draw(int classes, int height = 28, int width = 28)
    {
        var random = new Random(Seed);
        var layers = new List<RffLayerSpec>();
        int channels = 1;
        for (int i = 0; i < Widths.Length; i++)
        {
            layers.Add(RffLayerSpec.Random(channels, Widths[i], Kernels[i], Sigmas[i], Pools[i], random, normalise: true, Pool));
            channels = Widths[i];
        }
        var spec = new RffCnnSpec(1, height, width, layers, [], new float[classes], Grid);
        return spec with { ReadoutWeights = new float[classes * spec.Features] };
    }

    public string Describe() =>
        string.Join(" -> ", Widths.Select((w, i) => $"RffConv({w}, k{Kernels[i]}, sigma {Sigmas[i]})" + (Pools[i] > 1 ? $" -> {Pool}Pool{Pools[i]}" : "")))
        + $" -> grid {Grid}x{Grid} avg -> linear";

    private static int[] Ints(string text) => text.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    private static float[] Floats(string text) => text.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
}
