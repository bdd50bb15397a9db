namespace RffService.Training.Data;

/// <summary>
/// The seeds of the detector's canvases: training canvases are drawn from the training split with one, test canvases
/// (evaluation, samples, benchmarks) from the test split with the other.
/// </summary>
public static class CanvasSeeds
{
    public const int Train = 1, Test = 1001;
}
