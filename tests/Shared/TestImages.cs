using SkiaSharp;

namespace RffService.TestSupport;

/// <summary>Real image bytes, encoded in the test: PNG, JPEG and WebP by Skia; BMP and GIF written by hand.</summary>
public static class TestImages
{
    /// <summary>A gradient image; gray when <paramref name="gray"/>, else coloured.</summary>
    public static SKBitmap Gradient(int width, int height, bool gray = false)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                byte v = (byte)((x * 255 / Math.Max(1, width - 1) + y * 97) % 256);
                bitmap.SetPixel(x, y, gray ? new SKColor(v, v, v) : new SKColor(v, (byte)(255 - v), (byte)(y * 255 / Math.Max(1, height - 1))));
            }
        return bitmap;
    }

    public static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format, int quality = 100)
    {
        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    public static byte[] Png(int width = 28, int height = 28, bool gray = false)
    {
        using var bitmap = Gradient(width, height, gray);
        return Encode(bitmap, SKEncodedImageFormat.Png);
    }

    public static byte[] Jpeg(int width = 28, int height = 28)
    {
        using var bitmap = Gradient(width, height);
        return Encode(bitmap, SKEncodedImageFormat.Jpeg, 90);
    }

    public static byte[] Webp(int width = 28, int height = 28)
    {
        using var bitmap = Gradient(width, height);
        return Encode(bitmap, SKEncodedImageFormat.Webp, 100);
    }

    /// <summary>A 24-bit bottom-up BMP.</summary>
    public static byte[] Bmp(int width = 5, int height = 3)
    {
        using var bitmap = Gradient(width, height);
        int rowBytes = (width * 3 + 3) & ~3;
        var bytes = new byte[54 + rowBytes * height];
        void Int(int offset, int value) => BitConverter.GetBytes(value).CopyTo(bytes, offset);
        bytes[0] = (byte)'B'; bytes[1] = (byte)'M';
        Int(2, bytes.Length); Int(10, 54); Int(14, 40); Int(18, width); Int(22, height);
        bytes[26] = 1; bytes[28] = 24; Int(34, rowBytes * height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var c = bitmap.GetPixel(x, height - 1 - y);
                int o = 54 + y * rowBytes + x * 3;
                (bytes[o], bytes[o + 1], bytes[o + 2]) = (c.Blue, c.Green, c.Red);
            }
        return bytes;
    }

    /// <summary>A 1x1 GIF whose one pixel is white.</summary>
    public static byte[] Gif() => Convert.FromBase64String("R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=");

    /// <summary>Inserts an EXIF APP1 segment with the given orientation (1..8) after a JPEG's SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF header, IFD at offset 8
            0, 1,                                    // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1,            // tag 0x0112 Orientation, SHORT, count 1
            (byte)(orientation >> 8), (byte)orientation, 0, 0,
            0, 0, 0, 0,                              // no next IFD
        ];
        byte[] exif = [.. "Exif"u8, 0, 0, .. tiff];
        int length = exif.Length + 2;
        byte[] segment = [0xFF, 0xE1, (byte)(length >> 8), (byte)length, .. exif];
        return [.. jpeg[..2], .. segment, .. jpeg[2..]];
    }

    /// <summary>A PNG whose header declares a huge image, followed by one tiny IDAT chunk (a decompression bomb's shape).</summary>
    public static byte[] PngDeclaring(int width, int height)
    {
        var ihdr = new byte[13];
        BigEndian(ihdr, 0, (uint)width);
        BigEndian(ihdr, 4, (uint)height);
        ihdr[8] = 8; // 8-bit gray
        byte[] idat = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]; // zlib of a single 0 byte
        return [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", ihdr), .. Chunk("IDAT", idat), .. Chunk("IEND", [])];
    }

    /// <summary>A hand-built PNG: 16-bit gray (color type 0, depth 16) or 8-bit palette (color type 3, two colours).</summary>
    public static byte[] PngRaw(int width, int height, bool sixteenBitGray)
    {
        var ihdr = new byte[13];
        BigEndian(ihdr, 0, (uint)width);
        BigEndian(ihdr, 4, (uint)height);
        ihdr[8] = (byte)(sixteenBitGray ? 16 : 8);
        ihdr[9] = (byte)(sixteenBitGray ? 0 : 3);
        int bytesPerPixel = sixteenBitGray ? 2 : 1;
        var raw = new byte[height * (1 + width * bytesPerPixel)];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width * bytesPerPixel; x++)
                raw[y * (1 + width * bytesPerPixel) + 1 + x] = sixteenBitGray ? (byte)(x * 37 + y * 11) : (byte)((x + y) % 2);
        using var compressed = new MemoryStream();
        using (var zlib = new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(raw);
        byte[] palette = [255, 0, 0, 0, 0, 255];
        byte[] signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        return [.. signature, .. Chunk("IHDR", ihdr), .. (sixteenBitGray ? [] : Chunk("PLTE", palette)), .. Chunk("IDAT", compressed.ToArray()), .. Chunk("IEND", [])];
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        var chunk = new byte[12 + data.Length];
        BigEndian(chunk, 0, (uint)data.Length);
        typeBytes.CopyTo(chunk, 4);
        data.CopyTo(chunk, 8);
        BigEndian(chunk, 8 + data.Length, Crc32([.. typeBytes, .. data]));
        return chunk;
    }

    private static void BigEndian(byte[] buffer, int offset, uint value)
    {
        buffer[offset] = (byte)(value >> 24);
        buffer[offset + 1] = (byte)(value >> 16);
        buffer[offset + 2] = (byte)(value >> 8);
        buffer[offset + 3] = (byte)value;
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
