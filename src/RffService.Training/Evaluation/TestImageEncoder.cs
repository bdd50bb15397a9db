using RffService.Training.Data;
using SkiaSharp;

namespace RffService.Training.Evaluation;

public static class TestImageEncoder
{
    /// <summary>One image of the data set as an 8-bit gray PNG, the form a client sends.</summary>
    public static byte[] Png(ImageDataset data, int index)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(data.Width, data.Height, SKColorType.Gray8, SKAlphaType.Opaque));
        data.Image(index).CopyTo(bitmap.GetPixelSpan());
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }
}
