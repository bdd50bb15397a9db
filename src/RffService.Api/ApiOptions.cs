using System.ComponentModel.DataAnnotations;

namespace RffService.Api;

/// <summary>HTTP settings (configuration section "Api").</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>Largest request body accepted, in bytes (default 10 MB).</summary>
    [Range(1024, 1L << 32)]
    public long MaxRequestBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Most parts a multipart body may hold (image parts and others).</summary>
    [Range(1, 10_000)]
    public int MaxMultipartParts { get; set; } = 64;
}
