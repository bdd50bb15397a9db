using RffService.Vision;

namespace RffService.Inference.Pipeline;

/// <summary>The checks every image request goes through before any decoding.</summary>
public static class RequestLimits
{
    /// <summary>At least one image and at most <paramref name="maxImages"/>; a 400 or a 413 otherwise.</summary>
    public static void CheckImageCount(int count, int maxImages)
    {
        if (count == 0)
            throw new InferenceException(ErrorKind.BadInput, "No image", "The request holds no image.");
        if (count > maxImages)
            throw new InferenceException(ErrorKind.TooLarge, "Too many images", $"The request holds {count} images; the limit is {maxImages}.");
    }
}
