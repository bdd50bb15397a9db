using RffService.Onnx.Explanations;

namespace RffService.Inference.Explanations;

/// <summary>Runs the model for an explanation, through the model's queue: the serving session on inputs, the explanation graph on activations.</summary>
public interface ICamRunner
{
    /// <summary>The explained outcome's probability for each of <paramref name="count"/> inputs [C, H, W] laid end to end.</summary>
    Task<float[]> ProbabilitiesAsync(float[] inputs, int count, CancellationToken cancellationToken);

    /// <summary>The explained outcome's score for each of <paramref name="count"/> perturbations of the layer's activations.</summary>
    Task<float[]> ScoresWithDeltasAsync(CamLayer layer, float[] deltas, int[] activationShape, int count, CancellationToken cancellationToken);
}

/// <summary>
/// Everything a CAM method may use for one image, one target and one layer: the activations A [C, h, w], the gradient G
/// of the target's score with respect to A (from the explanation graph), the activations of a blank reference image,
/// and the runner that re-scores edited inputs or activations in batches through the model's queue.
/// </summary>
public sealed class CamContext(CamLayer layer, float[] input, int[] inputShape, float[] activations, float[] gradients, int[] activationShape,
    float[]? reference, float[]? blankInput, ICamRunner runner, int? channelLimit)
{
    public CamLayer Layer { get; } = layer;
    /// <summary>The normalised input tensor [1, C, H, W].</summary>
    public float[] Input { get; } = input;
    public int[] InputShape { get; } = inputShape;
    public float[] Activations { get; } = activations;
    public float[] Gradients { get; } = gradients;
    public int[] ActivationShape { get; } = activationShape;
    public ICamRunner Runner { get; } = runner;
    /// <summary>Score-CAM and Ablation-CAM score at most this many channels (see <see cref="ScoredChannels"/>); null: all.</summary>
    public int? ChannelLimit { get; } = channelLimit;
    /// <summary>The blank reference input (the baseline), or null when explaining raw activations.</summary>
    public float[]? BlankInput { get; } = blankInput;
    public int Channels => ActivationShape[1];
    public int Height => ActivationShape[2];
    public int Width => ActivationShape[3];
    public int Plane => Height * Width;

    /// <summary>
    /// The activations the maps weight: A, or A - A(blank) when a reference is given. RFF features answer a flat region
    /// with a constant, non-zero cos(W c / sigma + b); subtracting the blank image's answer makes flat background 0 and the
    /// map a decomposition of score(x) - score(blank).
    /// </summary>
    public float[] Relative { get; } = reference is null ? activations : Difference(activations, reference);

    public ReadOnlySpan<float> Channel(int k) => Relative.AsSpan(k * Plane, Plane);
    public ReadOnlySpan<float> GradientChannel(int k) => Gradients.AsSpan(k * Plane, Plane);

    /// <summary>
    /// The channels Score-CAM and Ablation-CAM score: all, or the <see cref="ChannelLimit"/> with the largest positive
    /// contribution <c>Σ_ij ReLU(G_k,ij) A_k,ij</c> (Layer-CAM's, summed). Ranking by Grad-CAM's <c>mean(G_k) mean(A_k)</c>
    /// instead lets channels whose gradient cancels over the map crowd out those that carry the item: on the pointing
    /// game it kept Score-CAM at 70% with 32 channels, against 97% this way and 99% with every channel.
    /// </summary>
    public int[] ScoredChannels()
    {
        var all = Enumerable.Range(0, Channels);
        if (ChannelLimit is not { } limit || limit >= Channels) return all.ToArray();
        return all.OrderByDescending(PositiveContribution).ThenBy(k => k).Take(limit).Order().ToArray();
    }

    /// <summary><c>Σ_ij ReLU(G_k,ij) A_k,ij</c>: how much channel k adds where the score rises with it.</summary>
    public double PositiveContribution(int k)
    {
        var g = GradientChannel(k);
        var a = Channel(k);
        double sum = 0;
        for (int p = 0; p < g.Length; p++) sum += Math.Max(g[p], 0f) * a[p];
        return sum;
    }

    private static float[] Difference(float[] values, float[] reference)
    {
        var result = new float[values.Length];
        System.Numerics.Tensors.TensorPrimitives.Subtract(values, reference, result);
        return result;
    }
}
