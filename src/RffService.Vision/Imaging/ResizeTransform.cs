using RffService.Vision.Detection;

namespace RffService.Vision.Imaging;

/// <summary>
/// How an original image was placed in the model's input: <c>input = original * scale + pad</c> per axis.
/// Stretch has different x and y scales and no padding; letterbox one scale and centred padding.
/// </summary>
public readonly record struct ResizeTransform(float ScaleX, float ScaleY, float PadX, float PadY, int OriginalWidth, int OriginalHeight)
{
    public (float X, float Y) ToOriginal(float inputX, float inputY) => ((inputX - PadX) / ScaleX, (inputY - PadY) / ScaleY);

    public (float X, float Y) ToInput(float originalX, float originalY) => (originalX * ScaleX + PadX, originalY * ScaleY + PadY);

    /// <summary>A box given as fractions of the model input, in original pixels, clipped to the image.</summary>
    public Box ToOriginal(Box inputFractions, int inputWidth, int inputHeight)
    {
        var (x0, y0) = ToOriginal(inputFractions.XMin * inputWidth, inputFractions.YMin * inputHeight);
        var (x1, y1) = ToOriginal(inputFractions.XMax * inputWidth, inputFractions.YMax * inputHeight);
        return new Box(x0, y0, x1, y1).Clip(OriginalWidth, OriginalHeight);
    }
}
