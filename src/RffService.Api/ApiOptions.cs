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

    /// <summary>A request still running after this is cancelled and answered 504 (its inference work is cancelled too).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>On SIGTERM: how long in-flight requests may take to finish before the process exits anyway.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>Most open connections (null: no limit); more are refused by Kestrel.</summary>
    public long? MaxConcurrentConnections { get; set; }

    /// <summary>
    /// The port of the Open Inference Protocol's gRPC service: the listener on this port speaks HTTP/2 only (cleartext
    /// gRPC). It must be among the service's URLs (the default URLs are localhost:5080 and localhost:5081); 0: no
    /// HTTP/2-only listener.
    /// </summary>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = 5081;

    /// <summary>A client that has not sent its request headers after this is disconnected (slowloris).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
