using SkiaSharp;

namespace RffService.Vision.Imaging;

/// <summary>
/// Decodes PNG, JPEG, WebP, BMP and GIF (first frame) with SkiaSharp. The header is read first so that images over
/// the pixel limit are refused before any pixel is decoded; EXIF orientation is applied.
/// </summary>
public static class ImageDecoder
{
    private static readonly Dictionary<SKEncodedImageFormat, string> Supported = new()
    {
        [SKEncodedImageFormat.Png] = "png",
        [SKEncodedImageFormat.Jpeg] = "jpeg",
        [SKEncodedImageFormat.Webp] = "webp",
        [SKEncodedImageFormat.Bmp] = "bmp",
        [SKEncodedImageFormat.Gif] = "gif",
    };

    public static unsafe DecodedImage Decode(ReadOnlySpan<byte> bytes, long maxPixels)
    {
        if (bytes.IsEmpty)
            throw new InferenceException(ErrorKind.BadInput, "Empty image", "The image is empty (0 bytes).");

        // Skia reads the caller's bytes in place (no copy): they stay pinned until the codec and its data are disposed.
        fixed (byte* pointer = bytes)
        {
            using var data = SKData.Create((IntPtr)pointer, bytes.Length, NoRelease);
            return Decode(data, maxPixels);
        }
    }

    private static readonly SKDataReleaseDelegate NoRelease = (_, _) => { };

    private static DecodedImage Decode(SKData data, long maxPixels)
    {
        using var codec = SKCodec.Create(data);
        if (codec is null)
            throw new InferenceException(ErrorKind.BadInput, "Undecodable image",
                "The bytes are not a readable PNG, JPEG, WebP, BMP or GIF image.");
        if (!Supported.TryGetValue(codec.EncodedFormat, out var format))
            throw new InferenceException(ErrorKind.UnsupportedMedia, "Unsupported image format",
                $"{codec.EncodedFormat} images are not supported; send PNG, JPEG, WebP, BMP or GIF.");

        var info = codec.Info;
        long pixels = (long)info.Width * info.Height;
        if (info.Width < 1 || info.Height < 1)
            throw new InferenceException(ErrorKind.BadInput, "Undecodable image", "The image declares no pixels.");
        if (pixels > maxPixels)
            throw new InferenceException(ErrorKind.TooLarge, "Image too large",
                $"The image is {info.Width}x{info.Height} ({pixels:N0} pixels); the limit is {maxPixels:N0} pixels.");

        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bitmap = new SKBitmap(target);
        try
        {
            var result = codec.GetPixels(target, bitmap.GetPixels());
            if (result is not (SKCodecResult.Success))
                throw new InferenceException(ErrorKind.BadInput, "Undecodable image", result == SKCodecResult.IncompleteInput
                    ? "The image is truncated: its data ends before the last pixel."
                    : $"The image data is corrupt ({result}).");
            var upright = Orientation.Apply(bitmap, codec.EncodedOrigin);
            if (!ReferenceEquals(upright, bitmap)) bitmap.Dispose();
            return new DecodedImage(upright, format);
        }
        catch
        {
            bitmap.Dispose();
            throw;
        }
    }
}
