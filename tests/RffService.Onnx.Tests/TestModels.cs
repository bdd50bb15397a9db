using RffService.Onnx.Proto;

namespace RffService.Onnx.Tests;

internal static class TestModels
{
    /// <summary>Two RffConv layers (4 and 6 features) on a 12x12 gray input, 3 classes.</summary>
    public static ModelProto SmallRffCnn(int seed) => RffCnnBuilder.Build(SmallSpec(seed));

    public static RffCnnSpec SmallSpec(int seed, PoolMode pool = PoolMode.Max)
    {
        var random = new Random(seed);
        var layers = new[]
        {
            RffLayerSpec.Random(1, 4, 3, sigma: 1.5f, poolSize: 2, random, pool: pool),
            RffLayerSpec.Random(4, 6, 3, sigma: 2f, poolSize: 1, random, pool: pool),
        };
        var readout = Enumerable.Range(0, 3 * 6).Select(_ => (float)RffLayerSpec.Gaussian(random)).ToArray();
        return new RffCnnSpec(1, 12, 12, layers, readout, [0.1f, -0.2f, 0.3f]);
    }
}
