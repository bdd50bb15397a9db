using RffService.Vision.Postprocessing;
using RffService.Vision;

namespace RffService.Inference.Explanations;

/// <summary>
/// A class activation map method over the shared template (as pytorch-grad-cam's BaseCAM): per-channel weights from
/// activations and gradients (or scores), then <c>ReLU(Σ_k w_k A_k)</c>. Methods that weight per position override <see cref="Compute"/>.
/// </summary>
public abstract class CamMethod
{
    public abstract string Name { get; }

    public virtual Heatmap Compute(CamContext context) => WeightedSum(context, ChannelWeights(context), relu: true);

    protected virtual float[] ChannelWeights(CamContext context) => throw new NotSupportedException();

    protected static Heatmap WeightedSum(CamContext context, float[] weights, bool relu)
    {
        var map = new float[context.Plane];
        for (int k = 0; k < context.Channels; k++)
        {
            if (weights[k] == 0) continue;
            var channel = context.Channel(k);
            for (int p = 0; p < map.Length; p++) map[p] += weights[k] * channel[p];
        }
        if (relu) for (int p = 0; p < map.Length; p++) map[p] = Math.Max(map[p], 0);
        return new Heatmap(map, context.Height, context.Width);
    }

    public static readonly IReadOnlyDictionary<string, CamMethod> All = new CamMethod[]
    {
        new Cam(), new GradCam(), new GradCamPlusPlus(), new LayerCam(), new ScoreCam(), new AblationCam(),
    }.ToDictionary(m => m.Name, StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// CAM: the target's score decomposed over the layer's positions, <c>Σ_k G_k ⊙ A_k</c>. Exact when everything after the
/// layer is linear: for global average pooling and a linear readout it is <c>Σ_k w_ck A_k / (h w)</c>, the original CAM.
/// </summary>
public sealed class Cam : CamMethod
{
    public override string Name => "cam";

    public override Heatmap Compute(CamContext context)
    {
        if (!context.LinearAfterLayer)
            throw new InferenceException(ErrorKind.InvalidParameter, "CAM not defined for this layer",
                $"'cam' needs a layer followed only by average pooling and the linear readout; '{context.Layer.Name}' is not. Use gradcam or layercam.");
        var map = new float[context.Plane];
        for (int k = 0; k < context.Channels; k++)
        {
            var a = context.Channel(k);
            var g = context.GradientChannel(k);
            for (int p = 0; p < map.Length; p++) map[p] += g[p] * a[p];
        }
        return new Heatmap(map, context.Height, context.Width);
    }
}

/// <summary>Grad-CAM: <c>w_k = mean(G_k)</c>.</summary>
public sealed class GradCam : CamMethod
{
    public override string Name => "gradcam";

    protected override float[] ChannelWeights(CamContext context) =>
        Enumerable.Range(0, context.Channels).Select(k => System.Numerics.Tensors.TensorPrimitives.Sum(context.GradientChannel(k)) / context.Plane).ToArray();
}

/// <summary>Grad-CAM++: <c>w_k = Σ_ij a_ij ReLU(G_k,ij)</c>, <c>a_ij = G² / (2 G² + Σ_ab A_k,ab G³)</c>.</summary>
public sealed class GradCamPlusPlus : CamMethod
{
    public override string Name => "gradcampp";

    protected override float[] ChannelWeights(CamContext context)
    {
        var weights = new float[context.Channels];
        for (int k = 0; k < context.Channels; k++)
        {
            var g = context.GradientChannel(k);
            float sumA = System.Numerics.Tensors.TensorPrimitives.Sum(context.Channel(k));
            double w = 0;
            for (int p = 0; p < g.Length; p++)
            {
                double g2 = (double)g[p] * g[p], g3 = g2 * g[p];
                double denominator = 2 * g2 + sumA * g3;
                double alpha = denominator != 0 ? g2 / (denominator + 1e-7 * Math.Sign(denominator)) : 0;
                w += alpha * Math.Max(g[p], 0);
            }
            weights[k] = (float)w;
        }
        return weights;
    }
}

/// <summary>Layer-CAM: <c>ReLU(Σ_k ReLU(G_k) ⊙ A_k)</c>, per position, so it works on any layer.</summary>
public sealed class LayerCam : CamMethod
{
    public override string Name => "layercam";

    public override Heatmap Compute(CamContext context)
    {
        var map = new float[context.Plane];
        for (int k = 0; k < context.Channels; k++)
        {
            var a = context.Channel(k);
            var g = context.GradientChannel(k);
            for (int p = 0; p < map.Length; p++) map[p] += Math.Max(g[p], 0) * a[p];
        }
        for (int p = 0; p < map.Length; p++) map[p] = Math.Max(map[p], 0);
        return new Heatmap(map, context.Height, context.Width);
    }
}

/// <summary>
/// Score-CAM: each channel, upsampled to the input and min-max normalised, masks the input; the target probabilities of
/// the masked inputs (run in batches), softmax-normalised over channels, weight the channels. No gradients.
/// </summary>
public sealed class ScoreCam : CamMethod
{
    public const int DefaultBatchSize = 64;
    public override string Name => "scorecam";

    protected override float[] ChannelWeights(CamContext context) => ChannelScores(context, DefaultBatchSize);

    public static float[] ChannelScores(CamContext context, int batchSize)
    {
        int height = context.InputShape[2], width = context.InputShape[3], inputChannels = context.InputShape[1];
        int plane = height * width;
        var masked = new float[context.Channels * context.Input.Length];
        for (int k = 0; k < context.Channels; k++)
        {
            var mask = new Heatmap(context.Channel(k).ToArray(), context.Height, context.Width).Resize(height, width).MinMax();
            for (int c = 0; c < inputChannels; c++)
                for (int p = 0; p < plane; p++)
                    masked[k * context.Input.Length + c * plane + p] = context.Input[c * plane + p] * mask.Values[p];
        }
        var scores = context.TargetProbabilities(masked, context.Channels, batchSize);
        var weights = new float[scores.Length];
        Softmax.Apply(scores, weights);
        return weights;
    }
}

/// <summary>Ablation-CAM: zero one channel at a time, re-run the rest of the network (batched), <c>w_k = (y - y_k) / y</c>.</summary>
public sealed class AblationCam : CamMethod
{
    public const int DefaultBatchSize = 64;
    public override string Name => "ablationcam";

    protected override float[] ChannelWeights(CamContext context) => ChannelScores(context, DefaultBatchSize);

    public static float[] ChannelScores(CamContext context, int batchSize)
    {
        int size = context.Activations.Length;
        var ablated = new float[context.Channels * size];
        for (int k = 0; k < context.Channels; k++)
        {
            context.Activations.CopyTo(ablated.AsSpan(k * size, size));
            ablated.AsSpan(k * size + k * context.Plane, context.Plane).Clear();
        }
        float original = context.TargetScoresFromLayer(context.Activations, 1, 1)[0];
        var scores = context.TargetScoresFromLayer(ablated, context.Channels, batchSize);
        float denominator = Math.Abs(original) > 1e-7f ? original : 1e-7f;
        return scores.Select(s => (original - s) / denominator).ToArray();
    }
}
