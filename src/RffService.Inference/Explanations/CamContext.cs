using RffService.Inference.Runtime;
using RffService.Onnx.Explanations;
using RffService.Onnx;
using RffService.Vision.Postprocessing;

namespace RffService.Inference.Explanations;

/// <summary>
/// Everything a CAM method may use for one image, one target class and one layer: the layer's activations A [C, h, w]
/// (from the model itself), the gradient G of the target's score (logit) with respect to A, and ways to re-score
/// edited inputs or activations in batches with ONNX Runtime.
/// </summary>
public sealed class CamContext
{
    private readonly Lazy<float[]> _gradients;

    /// <param name="reference">The layer's activations for a blank reference image (same shape), or null to explain raw activations.</param>
    public CamContext(Explainer model, ModelSession session, RffLayerInfo layer, float[] input, int[] inputShape, float[] activations, int[] activationShape, int target,
        float[]? reference = null)
    {
        Model = model;
        Session = session;
        Layer = layer;
        Input = input;
        InputShape = inputShape;
        Activations = activations;
        ActivationShape = activationShape;
        Target = target;
        OpIndex = model.Network.IndexOf(layer.Output);
        Relative = reference is null ? activations : activations.Select((a, i) => a - reference[i]).ToArray();
        _gradients = new Lazy<float[]>(() => model.Network.GradientAt(OpIndex, new Tensor(activations, activationShape), target).Data);
    }

    public Explainer Model { get; }
    /// <summary>The model's serving session (for re-scoring edited inputs).</summary>
    public ModelSession Session { get; }
    public RffLayerInfo Layer { get; }
    /// <summary>The normalised input tensor [1, C, H, W].</summary>
    public float[] Input { get; }
    public int[] InputShape { get; }
    public float[] Activations { get; }
    public int[] ActivationShape { get; }
    public int Target { get; }
    public int OpIndex { get; }
    public int Channels => ActivationShape[1];
    public int Height => ActivationShape[2];
    public int Width => ActivationShape[3];
    public int Plane => Height * Width;
    public float[] Gradients => _gradients.Value;
    public bool LinearAfterLayer => Model.Network.IsLinearAfter(OpIndex);

    /// <summary>
    /// The activations the maps weight: A, or A - A(blank) when a reference is given. RFF features answer a flat region
    /// with a constant, non-zero cos(W c / sigma + b); subtracting the blank image's answer makes flat background 0 and the
    /// map a decomposition of score(x) - score(blank).
    /// </summary>
    public float[] Relative { get; }

    public ReadOnlySpan<float> Channel(int k) => Relative.AsSpan(k * Plane, Plane);
    public ReadOnlySpan<float> GradientChannel(int k) => Gradients.AsSpan(k * Plane, Plane);

    /// <summary>Target-class probabilities of a batch of inputs [n, C, H, W], run through the full model in chunks.</summary>
    public float[] TargetProbabilities(float[] inputs, int count, int batchSize)
    {
        int size = Input.Length, classes = 0;
        var result = new float[count];
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            var (logits, shape) = Session.Run(inputs.AsMemory(start * size, n * size), [n, InputShape[1], InputShape[2], InputShape[3]], [Session.OutputName])[Session.OutputName];
            classes = (int)shape[1];
            var probabilities = new float[classes];
            for (int i = 0; i < n; i++)
            {
                Softmax.Apply(logits.AsSpan(i * classes, classes), probabilities);
                result[start + i] = probabilities[Target];
            }
        }
        return result;
    }

    /// <summary>Target-class scores (logits) after the layer, for a batch of edited activations, via the tail model in chunks.</summary>
    public float[] TargetScoresFromLayer(float[] activations, int count, int batchSize)
    {
        int size = Activations.Length;
        var result = new float[count];
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            var logits = Model.RunTail(Layer, activations.AsSpan(start * size, n * size).ToArray(), [n, Channels, Height, Width]);
            int classes = logits.Length / n;
            for (int i = 0; i < n; i++) result[start + i] = logits[i * classes + Target];
        }
        return result;
    }
}
