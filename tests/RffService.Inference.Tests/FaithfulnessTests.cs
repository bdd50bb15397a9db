using RffService.Inference.Explanations;
using RffService.Onnx.Explanations;

namespace RffService.Inference.Tests;

/// <summary>The faithfulness scores against values worked out by hand for a model whose answer is known in closed form.</summary>
public class FaithfulnessTests
{
    /// <summary>A "model" whose probability is a fixed function of the input: here, of the mean pixel.</summary>
    private sealed class ClosedFormModel(Func<float, float> ofMean) : ICamRunner
    {
        public Task<float[]> ProbabilitiesAsync(float[] inputs, int count, CancellationToken cancellationToken)
        {
            int size = inputs.Length / count;
            return Task.FromResult(Enumerable.Range(0, count).Select(i => ofMean(inputs.AsSpan(i * size, size).ToArray().Average())).ToArray());
        }

        public Task<float[]> ScoresWithDeltasAsync(CamLayer layer, float[] deltas, int[] activationShape, int count, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    private static Task<FaithfulnessScores> Measure(Func<float, float> model, float[] map, float[]? blank = null, float gamma = 1f)
    {
        var input = Enumerable.Repeat(1f, 16).ToArray(); // 1 channel, 4x4, every pixel 1
        var context = new CamContext(null!, input, [1, 1, 4, 4], [], [], [1, 1, 4, 4], null, blank, new ClosedFormModel(model), null);
        return Faithfulness.MeasureAsync(context, new Heatmap(map, 4, 4), gamma, model(1f), CancellationToken.None);
    }

    [Fact]
    public async Task A_map_on_one_pixel_of_a_model_that_needs_them_all()
    {
        // p = mean: masking keeps pixel 0 only (p 1/16, a drop of 15/16); deleting s of 16 pixels leaves (16 - s) / 16,
        // whose trapezoid area over the 16 steps is 1/2.
        var map = new float[16];
        map[0] = 1;
        var scores = await Measure(mean => mean, map);
        Assert.Equal(0.9375, scores.AverageDrop, 4);
        Assert.Equal(0, scores.IncreaseInConfidence);
        Assert.Equal(0.5, scores.DeletionAuc, 4);
    }

    [Fact]
    public async Task A_model_more_confident_without_the_pixels_counts_an_increase_and_no_drop()
    {
        // p = 1 - mean / 2 (0.5 for the image): the masked input (mean 1/16) scores 31/32, more than the image; deleting
        // s pixels gives 1 - (16 - s) / 32, whose area is 1 - 1/4 = 0.75.
        var map = new float[16];
        map[0] = 1;
        var scores = await Measure(mean => 1 - mean / 2, map);
        Assert.Equal(0, scores.AverageDrop);
        Assert.Equal(1, scores.IncreaseInConfidence);
        Assert.Equal(0.75, scores.DeletionAuc, 4);
    }

    [Fact]
    public async Task Masking_and_deleting_move_pixels_towards_the_blank_reference()
    {
        // Blank reference 0.5 everywhere, a map on half the pixels: masking leaves half the pixels at 1 and half at 0.5
        // (p 0.75, a drop of 1/4); deleting every pixel ends at 0.5, the curve falling linearly from 1: area 0.75.
        var map = Enumerable.Range(0, 16).Select(p => p < 8 ? 1f : 0f).ToArray();
        var scores = await Measure(mean => mean, map, blank: Enumerable.Repeat(0.5f, 16).ToArray());
        Assert.Equal(0.25, scores.AverageDrop, 4);
        Assert.Equal(0.75, scores.DeletionAuc, 4);
    }

    [Fact]
    public async Task The_mask_is_the_map_at_the_contrast_shown()
    {
        // Half the pixels at 1, half at 0.25 (after normalisation): p = mean masks to (8 + 8 x 0.25^gamma) / 16, so gamma 1
        // drops 3/8 and gamma 0.5 (0.25 -> 0.5) drops 1/4; gamma 2 (0.25 -> 1/16) drops 15/32. Deletion follows the order
        // of the pixels, which gamma does not change.
        var map = Enumerable.Range(0, 16).Select(p => p < 8 ? 4f : 1f).ToArray();
        var one = await Measure(mean => mean, map);
        var wide = await Measure(mean => mean, map, gamma: 0.5f);
        var narrow = await Measure(mean => mean, map, gamma: 2f);
        Assert.Equal(0.375, one.AverageDrop, 4);
        Assert.Equal(0.25, wide.AverageDrop, 4);
        Assert.Equal(15.0 / 32, narrow.AverageDrop, 4);
        Assert.Equal(one.DeletionAuc, wide.DeletionAuc);
        Assert.Equal(one.DeletionAuc, narrow.DeletionAuc);
    }
}
