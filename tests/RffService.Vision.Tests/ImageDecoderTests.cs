using RffService.TestSupport;
using RffService.Vision.Imaging;
using SkiaSharp;

namespace RffService.Vision.Tests;

public class ImageDecoderTests
{
    private const long Limit = 40_000_000;

    public static TheoryData<string, byte[], int, int> Formats() => new()
    {
        { "png", TestImages.Png(28, 20), 28, 20 },
        { "jpeg", TestImages.Jpeg(30, 17), 30, 17 },
        { "webp", TestImages.Webp(9, 12), 9, 12 },
        { "bmp", TestImages.Bmp(5, 3), 5, 3 },
        { "gif", TestImages.Gif(), 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decodes_every_supported_format(string format, byte[] bytes, int width, int height)
    {
        using var image = ImageDecoder.Decode(bytes, Limit);
        Assert.Equal((format, width, height), (image.Format, image.Width, image.Height));
    }

    [Fact]
    public void Lossless_formats_keep_exact_pixels()
    {
        using var source = TestImages.Gradient(5, 3);
        using var fromPng = ImageDecoder.Decode(TestImages.Encode(source, SKEncodedImageFormat.Png), Limit);
        using var fromBmp = ImageDecoder.Decode(TestImages.Bmp(5, 3), Limit);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
            {
                Assert.Equal(source.GetPixel(x, y), fromPng.Bitmap.GetPixel(x, y));
                Assert.Equal(source.GetPixel(x, y), fromBmp.Bitmap.GetPixel(x, y));
            }
        using var gif = ImageDecoder.Decode(TestImages.Gif(), Limit);
        Assert.Equal(SKColors.White, gif.Bitmap.GetPixel(0, 0));
    }

    [Theory]
    [InlineData(6, 20, 30)] // rotate 90 clockwise: width and height swap
    [InlineData(8, 20, 30)]
    [InlineData(3, 30, 20)] // rotate 180
    [InlineData(1, 30, 20)]
    public void Honours_exif_orientation(ushort orientation, int expectedWidth, int expectedHeight)
    {
        // A 30x20 image, white in the left third, black elsewhere.
        using var bitmap = new SKBitmap(new SKImageInfo(30, 20, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 30; x++)
                bitmap.SetPixel(x, y, x < 10 ? SKColors.White : SKColors.Black);
        var jpeg = TestImages.WithExifOrientation(TestImages.Encode(bitmap, SKEncodedImageFormat.Jpeg, 100), orientation);

        using var image = ImageDecoder.Decode(jpeg, Limit);

        Assert.Equal((expectedWidth, expectedHeight), (image.Width, image.Height));
        // Where the white stripe ends up: orientation 6 puts the stored left edge at the top, 8 at the bottom, 3 at the right.
        var (wx, wy, bx, by) = orientation switch
        {
            6 => (10, 2, 10, 27),
            8 => (10, 27, 10, 2),
            3 => (27, 10, 2, 10),
            _ => (2, 10, 27, 10),
        };
        Assert.True(image.Bitmap.GetPixel(wx, wy).Red > 200, "expected white");
        Assert.True(image.Bitmap.GetPixel(bx, by).Red < 50, "expected black");
    }

    [Fact]
    public void Refuses_an_image_over_the_pixel_limit_from_its_header()
    {
        var ex = Assert.Throws<InferenceException>(() => ImageDecoder.Decode(TestImages.PngDeclaring(100_000, 100_000), Limit));
        Assert.Equal(ErrorKind.TooLarge, ex.Kind);
        Assert.Contains("100000x100000", ex.Message);
    }

    [Fact]
    public void Refuses_truncated_and_undecodable_bytes()
    {
        var png = TestImages.Png(64, 64);
        var truncated = Assert.Throws<InferenceException>(() => ImageDecoder.Decode(png[..(png.Length / 2)], Limit));
        Assert.Equal(ErrorKind.BadInput, truncated.Kind);

        var garbage = Assert.Throws<InferenceException>(() => ImageDecoder.Decode("definitely not an image"u8.ToArray(), Limit));
        Assert.Equal(ErrorKind.BadInput, garbage.Kind);

        var empty = Assert.Throws<InferenceException>(() => ImageDecoder.Decode([], Limit));
        Assert.Equal(ErrorKind.BadInput, empty.Kind);
    }
}
