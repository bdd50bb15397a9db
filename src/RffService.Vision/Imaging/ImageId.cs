using System.Security.Cryptography;

namespace RffService.Vision.Imaging;

/// <summary>A stable id for an image: the first 128 bits of the SHA-256 of its bytes, as hex.</summary>
public static class ImageId
{
    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes)[..16]);
}
