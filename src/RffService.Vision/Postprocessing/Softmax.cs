using System.Numerics.Tensors;

namespace RffService.Vision.Postprocessing;

public static class Softmax
{
    /// <summary>
    /// Softmax of one row of logits, shifted by the row's maximum so large logits cannot overflow
    /// (TensorPrimitives.SoftMax does not shift, and returns NaN for logits near 100 and above).
    /// </summary>
    public static void Apply(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, probabilities);
        TensorPrimitives.Exp(probabilities, probabilities);
        TensorPrimitives.Divide(probabilities, TensorPrimitives.Sum(probabilities), probabilities);
    }
}
