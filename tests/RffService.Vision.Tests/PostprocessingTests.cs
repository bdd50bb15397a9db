using RffService.Vision.Postprocessing;

namespace RffService.Vision.Tests;

public class PostprocessingTests
{
    [Fact]
    public void Softmax_matches_the_definition_and_survives_large_logits()
    {
        float[] logits = [1f, 2f, 3f];
        var p = new float[3];
        Softmax.Apply(logits, p);
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal(Math.Exp(3) / z, p[2], 1e-6);
        Assert.Equal(1.0, p.Sum(), 1e-6);

        Softmax.Apply([1000f, 999f], p.AsSpan(0, 2));
        Assert.All(p[..2], v => Assert.True(float.IsFinite(v)));
        Assert.Equal(1 / (1 + Math.Exp(-1)), p[0], 1e-6);
    }

    [Fact]
    public void TopK_orders_by_value_breaks_ties_by_index_and_clamps_k()
    {
        float[] values = [0.1f, 0.4f, 0.4f, 0.05f, 0.05f];
        Assert.Equal([1, 2, 0], TopK.Select(values, 3));
        Assert.Equal([1, 2, 0, 3, 4], TopK.Select(values, 99));
        Assert.Empty(TopK.Select(values, 0));
    }
}
