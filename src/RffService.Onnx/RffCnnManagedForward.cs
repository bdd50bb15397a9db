namespace RffService.Onnx;

/// <summary>
/// The forward pass of an <see cref="RffCnnSpec"/> in managed code (RffConv kernel, max pooling, global average
/// pooling, linear readout): the reference the ONNX graph is checked against, and the base for explanations.
/// </summary>
public static class RffCnnManagedForward
{
    /// <summary>Logits [batch, classes] for input [batch, C, H, W].</summary>
    public static float[] Logits(RffCnnSpec spec, float[] input, int batch)
    {
        var features = Features(spec, input, batch);
        int d = spec.Features, k = spec.Classes;
        var logits = new float[batch * k];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < k; c++)
            {
                double sum = spec.ReadoutBias[c];
                for (int j = 0; j < d; j++) sum += spec.ReadoutWeights[c * d + j] * features[n * d + j];
                logits[n * k + c] = (float)sum;
            }
        return logits;
    }

    /// <summary>The last layer's map averaged over the readout grid cells, [batch, Features].</summary>
    public static float[] Features(RffCnnSpec spec, float[] input, int batch)
    {
        var (map, channels, height, width) = LastFeatureMap(spec, input, batch);
        int grid = spec.ReadoutGrid;
        var (windowH, strideH) = spec.GridCell(height);
        var (windowW, strideW) = spec.GridCell(width);
        var pooled = new float[batch * channels * grid * grid];
        for (int plane = 0; plane < batch * channels; plane++)
            for (int gy = 0; gy < grid; gy++)
                for (int gx = 0; gx < grid; gx++)
                {
                    double sum = 0;
                    for (int y = gy * strideH; y < gy * strideH + windowH; y++)
                        for (int x = gx * strideW; x < gx * strideW + windowW; x++)
                            sum += map[(plane * height + y) * width + x];
                    pooled[(plane * grid + gy) * grid + gx] = (float)(sum / (windowH * windowW));
                }
        return pooled;
    }

    /// <summary>The last layer's (pooled) feature map [batch, M, h, w].</summary>
    public static (float[] Map, int Channels, int Height, int Width) LastFeatureMap(RffCnnSpec spec, float[] input, int batch)
    {
        float[] current = input;
        int channels = spec.InputChannels, height = spec.InputHeight, width = spec.InputWidth;
        foreach (var layer in spec.Layers)
        {
            var g = new ConvGeometry(batch, channels, height, width, layer.OutChannels, layer.Kernel, layer.Kernel, layer.Attributes);
            var output = new float[g.OutputLength];
            RffConvKernel.Forward(g, current, layer.Weights, layer.Bias, output);
            (current, channels, height, width) = (output, layer.OutChannels, g.OutH, g.OutW);
            if (layer.PoolSize > 1)
                (current, height, width) = Pool(current, batch * channels, height, width, layer.PoolSize, layer.Pool);
        }
        return (current, channels, height, width);
    }

    /// <summary>Max or average pooling with window = stride = <paramref name="size"/> (floor mode, as ONNX).</summary>
    public static (float[] Output, int Height, int Width) Pool(float[] input, int planes, int height, int width, int size, PoolMode mode)
    {
        int outH = height / size, outW = width / size;
        var output = new float[planes * outH * outW];
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                {
                    float max = float.NegativeInfinity, sum = 0;
                    for (int dy = 0; dy < size; dy++)
                        for (int dx = 0; dx < size; dx++)
                        {
                            float v = input[(p * height + oy * size + dy) * width + ox * size + dx];
                            max = Math.Max(max, v);
                            sum += v;
                        }
                    output[(p * outH + oy) * outW + ox] = mode == PoolMode.Max ? max : sum / (size * size);
                }
        return (output, outH, outW);
    }
}
