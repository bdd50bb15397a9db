namespace RffService.TestSupport;

/// <summary>Image bytes no decoder should trust: known-bad files and random mutations of good ones.</summary>
public static class HostileImages
{
    /// <summary>Good files of every accepted format, the seeds of the mutations.</summary>
    public static byte[][] Seeds() =>
        [TestImages.Png(24, 20), TestImages.Jpeg(24, 20), TestImages.Webp(24, 20), TestImages.Gif(), TestImages.Bmp(7, 5), TestImages.Png(12, 12, gray: true)];

    /// <summary>Known-bad (or merely unusual) image files, by name.</summary>
    public static IEnumerable<(string What, byte[] Bytes)> Corpus()
    {
        yield return ("zero bytes", []);
        yield return ("text", "hello, I am not an image"u8.ToArray());
        yield return ("PNG declaring 100,000 x 100,000", TestImages.PngDeclaring(100_000, 100_000));
        yield return ("GIF with 10,000 frames", AnimatedGif(10_000));
        yield return ("animated GIF", AnimatedGif(2));
        yield return ("1x1 PNG", TestImages.Png(1, 1));
        yield return ("1 x 4000 PNG", TestImages.Png(1, 4000));
        yield return ("4000 x 1 PNG", TestImages.Png(4000, 1));
        yield return ("16-bit gray PNG", TestImages.PngRaw(9, 7, sixteenBitGray: true));
        yield return ("palette PNG", TestImages.PngRaw(9, 7, sixteenBitGray: false));
        var png = TestImages.Png(64, 64);
        yield return ("truncated PNG", png[..(png.Length / 2)]);
        var jpeg = TestImages.Jpeg(64, 64);
        yield return ("truncated JPEG", jpeg[..(jpeg.Length / 2)]);
    }

    /// <summary>The 1x1 GIF with its frame repeated: an animated GIF.</summary>
    public static byte[] AnimatedGif(int frames)
    {
        var single = TestImages.Gif();
        int frameStart = Array.IndexOf(single, (byte)0x2C); // image descriptor
        var frame = single[frameStart..^1];
        var result = new List<byte>(single[..frameStart]);
        for (int i = 0; i < frames; i++) result.AddRange(frame);
        result.Add(0x3B);
        return [.. result];
    }

    /// <summary>Bit flips, byte overwrites, truncation, duplicated runs or a header spliced from another format.</summary>
    public static byte[] Mutate(byte[] original, byte[][] others, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(5))
        {
            case 0:
                for (int i = 0, n = random.Next(1, 8); i < n; i++) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1:
                for (int i = 0, n = random.Next(1, 4); i < n; i++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return bytes;
            case 2:
                return bytes[..random.Next(0, bytes.Length)];
            case 3:
                {
                    int at = random.Next(bytes.Length), length = random.Next(1, Math.Min(64, bytes.Length - at) + 1);
                    return [.. bytes[..(at + length)], .. bytes[at..]];
                }
            default:
                {
                    var other = others[random.Next(others.Length)];
                    int cut = random.Next(1, Math.Min(other.Length, 40));
                    return [.. other[..cut], .. bytes[Math.Min(cut, bytes.Length)..]];
                }
        }
    }
}
