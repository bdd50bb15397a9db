namespace RffService.Api;

/// <summary>Where the service looks for its settings and listens when nothing says otherwise (read by the host and by --health-probe).</summary>
public static class ServiceDefaults
{
    /// <summary>
    /// Where appsettings.json and wwwroot are read from: the working directory when it has them (dotnet run, the
    /// container's WORKDIR), else the app's own folder, so the service started from any folder still finds its settings
    /// and its log configuration. An explicit --contentRoot or ASPNETCORE_CONTENTROOT wins (null leaves it to them).
    /// </summary>
    public static string? ContentRoot(string[] args)
    {
        if (args.Any(a => a.StartsWith("--contentRoot", StringComparison.OrdinalIgnoreCase)) ||
            !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT"))) return null;
        string current = Directory.GetCurrentDirectory();
        return File.Exists(Path.Combine(current, "appsettings.json")) ? current : AppContext.BaseDirectory;
    }

    /// <summary>Where the service listens when nothing configures it: REST on 5080, gRPC (HTTP/2 only, Api:GrpcPort) on 5081.</summary>
    public static readonly string[] DefaultUrls = ["http://localhost:5080", "http://localhost:5081"];
}
