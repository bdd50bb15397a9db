namespace RffService.Onnx;

/// <summary>One RffConv layer of an RFF-CNN, with its fixed random parameters.</summary>
/// <param name="Weights">[OutChannels, InChannels, Kernel, Kernel], drawn from N(0, 1).</param>
/// <param name="Bias">[OutChannels], drawn from U[0, 2 pi).</param>
/// <param name="PoolSize">Pooling window and stride after the layer (1 = none).</param>
/// <param name="Pool">Max or average pooling.</param>
public sealed record RffLayerSpec(
    int InChannels,
    int OutChannels,
    int Kernel,
    RffConvAttributes Attributes,
    float[] Weights,
    float[] Bias,
    int PoolSize,
    PoolMode Pool = PoolMode.Max)
{
    /// <summary>Draws W ~ N(0, 1) and B ~ U[0, 2 pi) from a seeded generator; padding keeps the size ("same").</summary>
    public static RffLayerSpec Random(int inChannels, int outChannels, int kernel, float sigma, int poolSize, Random random,
        bool normalise = true, PoolMode pool = PoolMode.Max)
    {
        var weights = new float[outChannels * inChannels * kernel * kernel];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)Gaussian(random);
        var bias = new float[outChannels];
        for (int i = 0; i < bias.Length; i++) bias[i] = (float)(random.NextDouble() * 2 * Math.PI);
        float scale = normalise ? MathF.Sqrt(2f / outChannels) : 1f;
        var attributes = RffConvAttributes.Create(sigma, scale, stride: 1, pad: kernel / 2);
        return new RffLayerSpec(inChannels, outChannels, kernel, attributes, weights, bias, poolSize, pool);
    }

    /// <summary>Box-Muller standard normal.</summary>
    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}

public enum PoolMode
{
    Max,
    Average,
}

/// <summary>
/// An RFF-CNN classifier: RffConv layers (with pooling between them), average pooling of the last map onto a
/// <c>ReadoutGrid</c> x <c>ReadoutGrid</c> grid (1 = global average pooling), and a linear readout, one logit per class.
/// </summary>
/// <param name="ReadoutWeights">[Classes, Features] row-major; feature index = (channel * grid + gy) * grid + gx.</param>
/// <param name="ReadoutBias">[Classes].</param>
/// <param name="ReadoutGrid">Side of the average-pooling grid before the readout (1 = global average pooling).</param>
public sealed record RffCnnSpec(
    int InputChannels,
    int InputHeight,
    int InputWidth,
    IReadOnlyList<RffLayerSpec> Layers,
    float[] ReadoutWeights,
    float[] ReadoutBias,
    int ReadoutGrid = 1)
{
    public int Classes => ReadoutBias.Length;
    public int Features => Layers[^1].OutChannels * ReadoutGrid * ReadoutGrid;

    /// <summary>Height and width of the last layer's (pooled) feature map.</summary>
    public (int Height, int Width) FinalMapSize()
    {
        int h = InputHeight, w = InputWidth, c = InputChannels;
        foreach (var layer in Layers)
        {
            var g = new ConvGeometry(1, c, h, w, layer.OutChannels, layer.Kernel, layer.Kernel, layer.Attributes);
            (h, w, c) = (g.OutH, g.OutW, layer.OutChannels);
            if (layer.PoolSize > 1) (h, w) = (h / layer.PoolSize, w / layer.PoolSize);
        }
        return (h, w);
    }

    public void Validate()
    {
        var (h, w) = FinalMapSize();
        if (h < 1 || w < 1) throw new ArgumentException("The layers shrink the input to nothing.");
        if (ReadoutGrid < 1 || h < ReadoutGrid || w < ReadoutGrid)
            throw new ArgumentException($"The last feature map ({h}x{w}) is smaller than the {ReadoutGrid}x{ReadoutGrid} readout grid.");
    }

    /// <summary>
    /// Readout grid cells: stride floor(side / grid) and window side - (grid - 1) * stride, so the cells cover the map
    /// exactly (neighbouring cells share a row or column when the side does not divide evenly, e.g. 7 into 2: rows 0-3 and 3-6).
    /// </summary>
    public (int Window, int Stride) GridCell(int side)
    {
        int stride = side / ReadoutGrid;
        return (side - (ReadoutGrid - 1) * stride, stride);
    }
}
