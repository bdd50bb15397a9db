namespace RffService.Api;

/// <summary>
/// <c>dotnet RffService.Api.dll --health-probe [path]</c>: asks the running service's /health/live (or the path given,
/// e.g. /health/ready) and exits 0 or 1, so a container health check needs no curl in the image.
/// </summary>
public static class HealthProbe
{
    public const string Flag = "--health-probe";

    public static int Run(string[] args)
    {
        int flag = Array.IndexOf(args, Flag);
        string path = flag + 1 < args.Length && args[flag + 1].StartsWith('/') ? args[flag + 1] : "/health/live";
        string urls = Environment.GetEnvironmentVariable("ASPNETCORE_URLS") ?? "http://localhost:5080";
        var uri = new Uri(urls.Split(';')[0].Replace("0.0.0.0", "127.0.0.1").Replace("+", "127.0.0.1").Replace("*", "127.0.0.1"));
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            using var response = client.GetAsync(new Uri(uri, path)).GetAwaiter().GetResult();
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"health probe failed: {ex.Message}");
            return 1;
        }
    }
}
