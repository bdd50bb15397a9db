namespace RffService.Onnx;

/// <summary>One RffConv layer of an RFF-CNN, with its fixed random parameters.</summary>
/// <param name="Weights">[OutChannels, InChannels, Kernel, Kernel], drawn from N(0, 1).</param>
/// <param name="Bias">[OutChannels], drawn from U[0, 2 pi).</param>
/// <param name="PoolSize">Max-pooling window and stride after the layer (1 = none).</param>
public sealed record RffLayerSpec(
    int InChannels,
    int OutChannels,
    int Kernel,
    RffConvAttributes Attributes,
    float[] Weights,
    float[] Bias,
    int PoolSize)
{
    /// <summary>Draws W ~ N(0, 1) and B ~ U[0, 2 pi) from a seeded generator; padding keeps the size ("same").</summary>
    public static RffLayerSpec Random(int inChannels, int outChannels, int kernel, float sigma, int poolSize, Random random,
        bool normalise = true)
    {
        var weights = new float[outChannels * inChannels * kernel * kernel];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)Gaussian(random);
        var bias = new float[outChannels];
        for (int i = 0; i < bias.Length; i++) bias[i] = (float)(random.NextDouble() * 2 * Math.PI);
        float scale = normalise ? MathF.Sqrt(2f / outChannels) : 1f;
        var attributes = RffConvAttributes.Create(sigma, scale, stride: 1, pad: kernel / 2);
        return new RffLayerSpec(inChannels, outChannels, kernel, attributes, weights, bias, poolSize);
    }

    /// <summary>Box-Muller standard normal.</summary>
    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}

/// <summary>
/// An RFF-CNN classifier: RffConv layers (with max pooling between them), global average pooling,
/// and a linear readout producing one logit per class.
/// </summary>
/// <param name="ReadoutWeights">[Classes, Features] row-major.</param>
/// <param name="ReadoutBias">[Classes].</param>
public sealed record RffCnnSpec(
    int InputChannels,
    int InputHeight,
    int InputWidth,
    IReadOnlyList<RffLayerSpec> Layers,
    float[] ReadoutWeights,
    float[] ReadoutBias)
{
    public int Classes => ReadoutBias.Length;
    public int Features => Layers[^1].OutChannels;
}
