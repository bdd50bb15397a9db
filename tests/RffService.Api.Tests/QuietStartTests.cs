using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>
/// The app as a process: started as a container starts it, with HOME pointing at an empty folder, it writes nothing
/// there (no ONNX Runtime telemetry state, no DataProtection keys), and everything it prints is Serilog's, with no
/// warning; started from a folder without its settings, it still reads its own.
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Process")]
public class QuietStartTests
{
    private static readonly Regex SerilogLine = new(@"^\[\d{2}:\d{2}:\d{2} (VRB|DBG|INF|WRN|ERR|FTL)\] ", RegexOptions.Compiled);

    [Fact]
    public async Task Start_writes_nothing_under_home_and_prints_only_serilog_lines_without_warnings()
    {
        var home = Directory.CreateTempSubdirectory("rff-home-");
        try
        {
            // As `dotnet run` starts it: from the project folder (its appsettings.json and wwwroot).
            var lines = await RunAsync(Path.Combine(DefaultModelsTests.RepositoryRoot(), "src", "RffService.Api"), new()
            {
                ["HOME"] = home.FullName,
                ["Api__GrpcPort"] = "0", // one address, no gRPC, on purpose: no warning
            }, async (http, process) =>
            {
                // Everything start-up does: a classification, and the explanation check in the background.
                var png = new ByteArrayContent(TestImages.Png(16, 16)) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };
                Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/classify", png)).StatusCode);
                await Until(async () => JsonDocument.Parse(await http.GetStringAsync("/models")).RootElement.GetProperty("models")[0]
                    .GetProperty("explanations").GetString() == "ready", process);
            });
            Assert.NotEmpty(lines);
            Assert.All(lines, line => Assert.Matches(SerilogLine, line));
            Assert.DoesNotContain(lines, line => line.Contains(" WRN] ") || line.Contains(" ERR] ") || line.Contains(" FTL] "));
            Assert.Empty(home.EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Select(f => f.FullName));
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Started_from_another_folder_it_reads_its_own_settings_and_says_when_grpc_is_off()
    {
        var elsewhere = Directory.CreateTempSubdirectory("rff-cwd-");
        try
        {
            // No appsettings.json there; Api:GrpcPort keeps its default, 5081, which the one address does not include.
            var lines = await RunAsync(elsewhere.FullName, [], (_, _) => Task.CompletedTask);
            // appsettings.json's Serilog console sink, found in the app's folder, writes the log.
            Assert.Contains(lines, line => SerilogLine.IsMatch(line) && line.Contains("Model repository"));
            Assert.Contains(lines, line => line.Contains(" WRN] ") && line.Contains("gRPC (Open Inference Protocol) is off") && line.Contains("5081"));
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Starts the built app from <paramref name="workingDirectory"/> with the tiny model on one free port and the extra
    /// environment, waits until it is ready, runs <paramref name="then"/>, stops it with SIGTERM, and returns what it printed.
    /// </summary>
    private static async Task<string[]> RunAsync(string workingDirectory, Dictionary<string, string> environment, Func<HttpClient, Process, Task> then)
    {
        using var models = new TestModelRepository().AddModel("tiny", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig());
        int port = FreePort();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "RffService.Api.dll")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["Inference__ModelsPath"] = models.Root,
                ["Inference__DefaultClassificationModel"] = "tiny",
            },
        };
        foreach (var (name, value) in environment) start.Environment[name] = value;
        start.Environment.Remove("ORT_DISABLE_TELEMETRY"); // the app must switch it off itself
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await Until(async () => (await http.GetAsync("/health/ready")).IsSuccessStatusCode, process);
            await then(http, process);
        }
        finally
        {
            Process.Start("kill", ["-TERM", process.Id.ToString()])!.WaitForExit();
            process.WaitForExit(15_000);
        }
        return ((await output) + (await errors)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static async Task Until(Func<Task<bool>> condition, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if (await condition()) return;
            }
            catch (HttpRequestException) { }
            if (process.HasExited) Assert.Fail($"the service exited ({process.ExitCode})");
            Assert.True(DateTime.UtcNow < deadline, "the service did not get there within 60 s");
            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
