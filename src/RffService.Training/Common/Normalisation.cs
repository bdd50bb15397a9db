namespace RffService.Training.Common;

/// <summary>
/// Gray pixel normalisation, written exactly as the service's pre-processing computes it
/// (<c>pixel * (1 / (255 std)) - mean / std</c>), so training and serving see the same tensor.
/// </summary>
public readonly record struct Normalisation(float Mean, float Std)
{
    public void Apply(ReadOnlySpan<byte> pixels, Span<float> destination, bool mirror = false, int width = 28)
    {
        float scale = 1f / (255f * Std), offset = Mean / Std;
        if (!mirror)
        {
            for (int i = 0; i < pixels.Length; i++) destination[i] = pixels[i] * scale - offset;
            return;
        }
        for (int i = 0; i < pixels.Length; i++)
        {
            int row = i / width, col = i % width;
            destination[i] = pixels[row * width + (width - 1 - col)] * scale - offset;
        }
    }
}
