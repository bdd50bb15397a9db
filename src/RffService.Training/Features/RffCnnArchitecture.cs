using RffService.Onnx;

namespace RffService.Training.Features;

/// <summary>The architecture and random draw of an RFF-CNN (the closed-form trainer's model).</summary>
/// <param name="Widths">Random features per layer.</param>
/// <param name="Kernels">Kernel side per layer.</param>
/// <param name="Pools">Pooling window after each layer (1 = none).</param>
/// <param name="Sigmas">Bandwidth per layer.</param>
public sealed record RffCnnArchitecture(int[] Widths, int[] Kernels, int[] Pools, float[] Sigmas, PoolMode Pool, int Grid, int Seed)
{
    public RffCnnArchitecture WithSigmas(float[] sigmas) => this with { Sigmas = sigmas };

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
}
