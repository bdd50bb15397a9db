using RffService.TestSupport;
using RffService.Vision.Imaging;
using SkiaSharp;

namespace RffService.Vision.Tests;

public class ImagePreprocessorTests
{
    [Fact]
    public void Gray_input_at_the_model_size_is_normalised_exactly()
    {
        using var bitmap = TestImages.Gradient(4, 3, gray: true);
        using var image = ImageDecoder.Decode(TestImages.Encode(bitmap, SKEncodedImageFormat.Png), 1000);
        var spec = new InputSpec(4, 3, 1, [0.5f], [0.25f], Letterbox: false);
        var tensor = new float[spec.TensorLength];

        ImagePreprocessor.WriteTensor(image, spec, tensor);

        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                Assert.Equal((bitmap.GetPixel(x, y).Red / 255f - 0.5f) / 0.25f, tensor[y * 4 + x], 1e-5f);
    }

    [Fact]
    public void Rgb_input_is_written_channel_planes_first()
    {
        using var bitmap = TestImages.Gradient(3, 2);
        using var image = ImageDecoder.Decode(TestImages.Encode(bitmap, SKEncodedImageFormat.Png), 1000);
        var spec = new InputSpec(3, 2, 3, [0f, 0.1f, 0.2f], [1f, 0.5f, 2f], Letterbox: false);
        var tensor = new float[spec.TensorLength];

        ImagePreprocessor.WriteTensor(image, spec, tensor);

        var c = bitmap.GetPixel(2, 1);
        Assert.Equal(c.Red / 255f, tensor[0 * 6 + 1 * 3 + 2], 1e-5f);
        Assert.Equal((c.Green / 255f - 0.1f) / 0.5f, tensor[1 * 6 + 1 * 3 + 2], 1e-5f);
        Assert.Equal((c.Blue / 255f - 0.2f) / 2f, tensor[2 * 6 + 1 * 3 + 2], 1e-5f);
    }

    [Fact]
    public void Stretch_scales_each_axis_and_uniform_images_stay_uniform()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(40, 10, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(new SKColor(200, 200, 200));
        using var image = new DecodedImage(bitmap.Copy(), "png");
        var spec = new InputSpec(8, 8, 1, [0f], [1f], Letterbox: false);
        var tensor = new float[spec.TensorLength];

        var transform = ImagePreprocessor.WriteTensor(image, spec, tensor);

        Assert.Equal((0.2f, 0.8f, 0f, 0f), (transform.ScaleX, transform.ScaleY, transform.PadX, transform.PadY));
        Assert.All(tensor, v => Assert.Equal(200 / 255f, v, 1e-2f));
    }

    [Fact]
    public void Letterbox_keeps_the_aspect_ratio_pads_with_the_mean_and_maps_back()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(40, 20, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(SKColors.White);
        using var image = new DecodedImage(bitmap.Copy(), "png");
        var spec = new InputSpec(20, 20, 1, [0.5f], [0.5f], Letterbox: true);
        var tensor = new float[spec.TensorLength];

        var transform = ImagePreprocessor.WriteTensor(image, spec, tensor);

        Assert.Equal((0.5f, 0.5f, 0f, 5f), (transform.ScaleX, transform.ScaleY, transform.PadX, transform.PadY));
        Assert.Equal(0f, tensor[1 * 20 + 10], 0.02f);   // padding row: the mean, so 0 after normalisation
        Assert.Equal(1f, tensor[10 * 20 + 10], 0.02f);  // image row: white -> (1 - 0.5) / 0.5
        Assert.Equal((40f, 20f), transform.ToOriginal(20, 15));
        Assert.Equal((0f, 0f), transform.ToOriginal(0, 5));
        Assert.Equal((20f, 15f), transform.ToInput(40, 20));
    }
}
