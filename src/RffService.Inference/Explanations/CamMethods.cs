using System.Numerics.Tensors;
using RffService.Vision;
using RffService.Vision.Postprocessing;

namespace RffService.Inference.Explanations;

/// <summary>
/// A class activation map method over the shared template (as pytorch-grad-cam's BaseCAM): per-channel weights from
/// activations and gradients (or scores), then <c>ReLU(Σ_k w_k A_k)</c>. Methods that weight per position override <see cref="ComputeAsync"/>.
/// </summary>
public abstract class CamMethod
{
    /// <summary>The name requests use (method=).</summary>
    public abstract string Name { get; }

    /// <summary>The name people know it by, as the papers write it.</summary>
    public abstract string Title { get; }

    /// <summary>
    /// Score-CAM's masked inputs and Ablation-CAM's ablations per model run. Small: a run is one turn in the model's
    /// queue, and a classification waits for at most one such turn; larger batches are no faster per image on a CPU.
    /// </summary>
    protected const int PassesPerRun = 4;

    /// <summary>True when the method needs the gradient (every method but Score-CAM and Ablation-CAM).</summary>
    public virtual bool UsesGradients => true;

    public virtual async Task<Heatmap> ComputeAsync(CamContext context, CancellationToken cancellationToken) =>
        WeightedSum(context, await ChannelWeightsAsync(context, cancellationToken), relu: true);

    public virtual Task<float[]> ChannelWeightsAsync(CamContext context, CancellationToken cancellationToken) => throw new NotSupportedException();

    protected static Heatmap WeightedSum(CamContext context, float[] weights, bool relu)
    {
        var map = new float[context.Plane];
        for (int k = 0; k < context.Channels; k++)
            if (weights[k] != 0) TensorPrimitives.MultiplyAdd(context.Channel(k), weights[k], map, map);
        if (relu) TensorPrimitives.Max(map, 0f, map);
        return new Heatmap(map, context.Height, context.Width);
    }

    /// <summary>
    /// The maps of several layers as one: each normalised to [0, 1], then averaged (the Layer-CAM paper's fusion). One
    /// map is returned as it is. The maps must share a size (resize them to the input first).
    /// </summary>
    public static Heatmap Fuse(IReadOnlyList<Heatmap> maps)
    {
        if (maps.Count == 1) return maps[0];
        var values = new float[maps[0].Values.Length];
        foreach (var map in maps) TensorPrimitives.Add(values, map.Normalised().Values, values);
        TensorPrimitives.Divide(values, maps.Count, values);
        return new Heatmap(values, maps[0].Height, maps[0].Width);
    }

    /// <summary>Every method, by name, in the order offered to people (the default, Grad-CAM, first).</summary>
    public static readonly IReadOnlyDictionary<string, CamMethod> All = new CamMethod[]
    {
        new GradCam(), new GradCamPlusPlus(), new LayerCam(), new Cam(), new ScoreCam(), new AblationCam(),
    }.ToDictionary(m => m.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The methods that apply to a layer: every method, but cam only where it is an exact decomposition.</summary>
    public static IReadOnlyList<string> ApplicableTo(Onnx.Explanations.CamLayer layer) =>
        All.Values.Where(m => m is not Cam || layer.LinearAfter).Select(m => m.Name).ToList();
}

/// <summary>
/// CAM: the target's score decomposed over the layer's positions, <c>Σ_k G_k ⊙ A_k</c>. Exact when everything after the
/// layer is affine in it: for global average pooling and a linear readout it is <c>Σ_k w_ck A_k / (h w)</c>, the original CAM.
/// </summary>
public sealed class Cam : CamMethod
{
    public override string Name => "cam";
    public override string Title => "CAM";

    public override Task<Heatmap> ComputeAsync(CamContext context, CancellationToken cancellationToken)
    {
        if (!context.Layer.LinearAfter)
            throw new InferenceException(ErrorKind.InvalidParameter, "CAM not defined for this layer",
                $"'cam' needs a layer followed only by affine operations (pooling, reshaping, the linear readout); '{context.Layer.Name}' is not. Use gradcam or layercam.");
        var map = new float[context.Plane];
        for (int k = 0; k < context.Channels; k++)
        {
            var a = context.Channel(k);
            var g = context.GradientChannel(k);
            for (int p = 0; p < map.Length; p++) map[p] += g[p] * a[p];
        }
        return Task.FromResult(new Heatmap(map, context.Height, context.Width));
    }
}

/// <summary>Grad-CAM: <c>w_k = mean(G_k)</c>.</summary>
public sealed class GradCam : CamMethod
{
    public override string Name => "gradcam";
    public override string Title => "Grad-CAM";

    public override Task<float[]> ChannelWeightsAsync(CamContext context, CancellationToken cancellationToken) =>
        Task.FromResult(Enumerable.Range(0, context.Channels).Select(k => TensorPrimitives.Sum(context.GradientChannel(k)) / context.Plane).ToArray());
}

/// <summary>Grad-CAM++: <c>w_k = Σ_ij a_ij ReLU(G_k,ij)</c>, <c>a_ij = G² / (2 G² + Σ_ab A_k,ab G³)</c>.</summary>
public sealed class GradCamPlusPlus : CamMethod
{
    public override string Name => "gradcampp";
    public override string Title => "Grad-CAM++";

    public override Task<float[]> ChannelWeightsAsync(CamContext context, CancellationToken cancellationToken)
    {
        var weights = new float[context.Channels];
        for (int k = 0; k < context.Channels; k++)
        {
            var g = context.GradientChannel(k);
            float sumA = TensorPrimitives.Sum(context.Channel(k));
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
        return Task.FromResult(weights);
    }
}

/// <summary>Layer-CAM: <c>ReLU(Σ_k ReLU(G_k) ⊙ A_k)</c>, per position, so it works on any layer.</summary>
public sealed class LayerCam : CamMethod
{
    public override string Name => "layercam";
    public override string Title => "Layer-CAM";

    public override Task<Heatmap> ComputeAsync(CamContext context, CancellationToken cancellationToken)
    {
        var map = new float[context.Plane];
        for (int k = 0; k < context.Channels; k++)
        {
            var a = context.Channel(k);
            var g = context.GradientChannel(k);
            for (int p = 0; p < map.Length; p++) map[p] += Math.Max(g[p], 0) * a[p];
        }
        TensorPrimitives.Max(map, 0f, map);
        return Task.FromResult(new Heatmap(map, context.Height, context.Width));
    }
}

/// <summary>
/// Score-CAM: each scored channel, upsampled to the input and min-max normalised, masks the input (towards the blank
/// reference when there is one); the target probabilities of the masked inputs, softmax-normalised over the scored
/// channels, weight them. No gradients.
/// </summary>
public sealed class ScoreCam : CamMethod
{
    public const int BatchSize = PassesPerRun;
    public override string Name => "scorecam";
    public override string Title => "Score-CAM";
    public override bool UsesGradients => false;

    public override async Task<float[]> ChannelWeightsAsync(CamContext context, CancellationToken cancellationToken)
    {
        var channels = context.ScoredChannels();
        int height = context.InputShape[2], width = context.InputShape[3], inputChannels = context.InputShape[1];
        int plane = height * width, size = context.Input.Length;
        var scores = new float[channels.Length];
        for (int start = 0; start < channels.Length; start += BatchSize)
        {
            int n = Math.Min(BatchSize, channels.Length - start);
            var masked = new float[n * size];
            for (int j = 0; j < n; j++)
            {
                var mask = new Heatmap(context.Channel(channels[start + j]).ToArray(), context.Height, context.Width).Resize(height, width).MinMax();
                for (int c = 0; c < inputChannels; c++)
                    for (int p = 0; p < plane; p++)
                    {
                        int at = c * plane + p;
                        float baseline = context.BlankInput?[at] ?? 0f;
                        masked[j * size + at] = baseline + (context.Input[at] - baseline) * mask.Values[p];
                    }
            }
            (await context.Runner.ProbabilitiesAsync(masked, n, cancellationToken)).CopyTo(scores, start);
        }
        var normalised = new float[scores.Length];
        Softmax.Apply(scores, normalised);
        var weights = new float[context.Channels];
        for (int j = 0; j < channels.Length; j++) weights[channels[j]] = normalised[j];
        return weights;
    }
}

/// <summary>
/// Ablation-CAM: each scored channel is switched off (set to its blank-image value, or 0 without a baseline) in the
/// layer's activations and the rest of the network re-run (batched, through the explanation graph):
/// <c>w_k = (y - y_k) / y</c>.
/// </summary>
public sealed class AblationCam : CamMethod
{
    public const int BatchSize = PassesPerRun;
    public override string Name => "ablationcam";
    public override string Title => "Ablation-CAM";
    public override bool UsesGradients => false;

    public override async Task<float[]> ChannelWeightsAsync(CamContext context, CancellationToken cancellationToken)
    {
        var channels = context.ScoredChannels();
        int size = context.Activations.Length;
        float original = (await context.Runner.ScoresWithDeltasAsync(context.Layer, new float[size], context.ActivationShape, 1, cancellationToken))[0];
        float denominator = Math.Abs(original) > 1e-7f ? original : 1e-7f;
        var weights = new float[context.Channels];
        for (int start = 0; start < channels.Length; start += BatchSize)
        {
            int n = Math.Min(BatchSize, channels.Length - start);
            var deltas = new float[n * size];
            for (int j = 0; j < n; j++)
            {
                int k = channels[start + j];
                var channel = context.Channel(k);
                for (int p = 0; p < context.Plane; p++) deltas[j * size + k * context.Plane + p] = -channel[p];
            }
            var scores = await context.Runner.ScoresWithDeltasAsync(context.Layer, deltas, context.ActivationShape, n, cancellationToken);
            for (int j = 0; j < n; j++) weights[channels[start + j]] = (original - scores[j]) / denominator;
        }
        return weights;
    }
}
