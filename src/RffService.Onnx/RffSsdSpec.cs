namespace RffService.Onnx;

/// <summary>
/// One prediction head of an SSD: 3x3 convolutions over one feature map giving, per cell, <c>Anchors x Classes</c>
/// scores and <c>Anchors x 4</c> box offsets.
/// </summary>
/// <param name="ClassWeights">[Anchors * Classes, Channels, 3, 3].</param>
/// <param name="BoxWeights">[Anchors * 4, Channels, 3, 3].</param>
public sealed record SsdHeadSpec(int Anchors, float[] ClassWeights, float[] ClassBias, float[] BoxWeights, float[] BoxBias);

/// <summary>
/// An RFF-SSD: RffConv layers (with pooling) give a backbone map; feature map 1 is that map average-pooled by
/// <c>MapPools[0]</c>, map k+1 is map k pooled by <c>MapPools[k]</c>; each map has a head.
/// </summary>
/// <param name="Classes">Scores per box, background included (K + 1).</param>
public sealed record RffSsdSpec(
    int InputChannels,
    int InputSize,
    IReadOnlyList<RffLayerSpec> Layers,
    IReadOnlyList<int> MapPools,
    int Classes,
    IReadOnlyList<SsdHeadSpec> Heads)
{
    public int Channels => Layers[^1].OutChannels;

    /// <summary>Side of each feature map.</summary>
    public int[] MapSizes()
    {
        int side = InputSize;
        foreach (var layer in Layers)
            if (layer.PoolSize > 1) side /= layer.PoolSize;
        var sizes = new int[MapPools.Count];
        for (int i = 0; i < sizes.Length; i++) sizes[i] = side /= MapPools[i];
        return sizes;
    }
}
