using RffService.Training.Common;

namespace RffService.Training.Data;

/// <summary>Facts about Fashion-MNIST the trainers share.</summary>
public static class FashionMnist
{
    /// <summary>Mean and standard deviation of the training split's pixels (scaled to [0, 1]).</summary>
    public static readonly Normalisation Normalisation = new(0.2860f, 0.3530f);
}
