namespace RffService.Api;

/// <summary>
/// <c>dotnet RffService.Api.dll --health-probe [path]</c>: asks the running service's /health/live (or the path given,
/// e.g. /health/ready) and exits 0 or 1, so a container health check needs no curl in the image. The address is found
/// where ASP.NET Core reads it: Kestrel:Endpoints, then urls (--urls, ASPNETCORE_URLS or Urls in appsettings.json), then
/// ASPNETCORE_HTTP_PORTS, else the default; the HTTP/2-only gRPC port is skipped.
/// </summary>
public static class HealthProbe
{
    public const string Flag = "--health-probe";

    public static int Run(string[] args)
    {
        int flag = Array.IndexOf(args, Flag);
        string path = flag + 1 < args.Length && args[flag + 1].StartsWith('/') ? args[flag + 1] : "/health/live";
        var uri = Address(args.Where((_, i) => i != flag && !(i == flag + 1 && args[i].StartsWith('/'))).ToArray());
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            using var response = client.GetAsync(new Uri(uri, path)).GetAwaiter().GetResult();
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"health probe failed ({uri}): {ex.Message}");
            return 1;
        }
    }

    /// <summary>The address the service listens on for HTTP/1.1, read from the same sources as the service reads it.</summary>
    public static Uri Address(string[] args)
    {
        string root = new ConfigurationBuilder().AddCommandLine(args).Build()["contentRoot"]
                      ?? ServiceDefaults.ContentRoot(args) ?? Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT") ?? AppContext.BaseDirectory;
        var configuration = new ConfigurationBuilder()
            .SetBasePath(Path.GetFullPath(root))
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddCommandLine(args)
            .Build();
        int grpcPort = configuration.GetValue<int?>("Api:GrpcPort") ?? new ApiOptions().GrpcPort;
        var candidates = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>().ToList();
        if (candidates.Count == 0 && configuration["urls"] is { Length: > 0 } urls) candidates = [.. urls.Split(';', StringSplitOptions.RemoveEmptyEntries)];
        if (candidates.Count == 0 && configuration["http_ports"] is { Length: > 0 } ports)
            candidates = [.. ports.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => $"http://localhost:{p.Trim()}")];
        if (candidates.Count == 0) candidates = [ServiceDefaults.DefaultUrls[0]];
        var addresses = candidates.Select(c => new Uri(c.Trim().Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "[::1]").Replace("+", "127.0.0.1").Replace("*", "127.0.0.1"))).ToList();
        return addresses.FirstOrDefault(a => a.Port != grpcPort) ?? addresses[0];
    }
}
