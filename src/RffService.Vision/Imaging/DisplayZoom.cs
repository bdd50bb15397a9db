namespace RffService.Vision.Imaging;

/// <summary>
/// The whole factor a small image is drawn enlarged by for people (nearest neighbour, so pixels stay crisp): the
/// smallest that brings its short side to at least the wanted size, as long as the long side stays within a limit.
/// </summary>
public static class DisplayZoom
{
    public const int LargestSide = 2048;

    /// <param name="minimumSide">The short side wanted; 0 or less draws every image at its own size.</param>
    public static int For(int width, int height, int minimumSide)
    {
        int shortSide = Math.Min(width, height), longSide = Math.Max(width, height);
        if (minimumSide <= 0 || shortSide >= minimumSide) return 1;
        int wanted = (minimumSide + shortSide - 1) / shortSide;
        return Math.Max(1, Math.Min(wanted, LargestSide / longSide));
    }
}
