using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>
/// The README's quick tour, run as written: every curl command of its first bash block, taken from the file (so the two
/// cannot drift apart), against the service with the repository's own models on a real port, from a folder that has
/// the repository's samples/. Each must succeed (curl --fail-with-body) with an answer of the right shape, and the
/// /classify answer the README shows must be the one its first command produces (model and top class).
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "curl")]
public partial class ReadmeExamplesTests : IDisposable
{
    private const string ReadmeAddress = "http://localhost:5080";
    private readonly string _workDir = Directory.CreateTempSubdirectory("rff-readme-").FullName;

    [GeneratedRegex(@"^## A quick tour.*?```bash\n(?<commands>.*?)```.*?A `/classify` answer[^\n]*\n\s*```json\n(?<answer>.*?)```", RegexOptions.Singleline)]
    private static partial Regex QuickTour();

    public static (IReadOnlyList<string> Commands, JsonElement Answer) ReadQuickTour()
    {
        string readme = File.ReadAllText(Path.Combine(FashionMnistFixture.FindRepositoryRoot(), "README.md"));
        var match = QuickTour().Match(readme[readme.IndexOf("## A quick tour", StringComparison.Ordinal)..]);
        Assert.True(match.Success, "README.md has no '## A quick tour' section with a bash block and a /classify answer");
        var commands = match.Groups["commands"].Value.Split('\n')
            .Select(l => Regex.Replace(l, @"\s+#.*$", "").Trim())
            .Where(l => l.StartsWith("curl ", StringComparison.Ordinal)).ToList();
        return (commands, JsonDocument.Parse(match.Groups["answer"].Value).RootElement.Clone());
    }

    [Fact]
    public async Task Every_quick_tour_command_works_as_written_and_the_shown_answer_is_what_it_produces()
    {
        var (commands, shownAnswer) = ReadQuickTour();
        Assert.True(commands.Count >= 6, $"only {commands.Count} curl commands found");
        using var service = new ModelsOnKestrel(Path.Combine(FashionMnistFixture.FindRepositoryRoot(), "models"));
        string address = await service.StartAsync();
        Directory.CreateSymbolicLink(Path.Combine(_workDir, "samples"), Path.Combine(FashionMnistFixture.FindRepositoryRoot(), "samples"));

        string? firstClassifyAnswer = null;
        foreach (string command in commands)
        {
            Assert.Contains(ReadmeAddress, command);
            var (exit, output, error) = await RunAsync(command.Replace(ReadmeAddress, address).Replace("curl ", "curl -sS --fail-with-body "));
            Assert.True(exit == 0, $"{command}\nexit {exit}: {error}\n{output}");
            string url = Regex.Match(command, "\"?" + Regex.Escape(ReadmeAddress) + @"(?<path>/[^\s""?]*)").Groups["path"].Value;
            if (command.Contains("-o "))
            {
                string file = Path.Combine(_workDir, Regex.Match(command, @"-o (\S+)").Groups[1].Value);
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(file)[..4]);
                continue;
            }
            switch (url)
            {
                case "/classify":
                    firstClassifyAnswer ??= output;
                    var classified = JsonDocument.Parse(output).RootElement;
                    foreach (var one in classified.ValueKind == JsonValueKind.Array ? classified.EnumerateArray().ToList() : [classified])
                        Assert.True(one.GetProperty("predictions").GetArrayLength() > 0, output);
                    break;
                case "/detect":
                    Assert.True(JsonDocument.Parse(output).RootElement.GetProperty("detections").GetArrayLength() > 0, output);
                    break;
                case "/models":
                    Assert.True(JsonDocument.Parse(output).RootElement.GetProperty("models").GetArrayLength() > 0, output);
                    break;
                case "/metrics":
                    Assert.Contains("# TYPE", output);
                    break;
                default:
                    Assert.False(string.IsNullOrWhiteSpace(output), command);
                    break;
            }
        }

        // The answer shown is what the first /classify command gives (model and classes; probabilities to two places).
        Assert.NotNull(firstClassifyAnswer);
        var actual = JsonDocument.Parse(firstClassifyAnswer).RootElement;
        Assert.Equal(shownAnswer.GetProperty("model").GetString(), actual.GetProperty("model").GetString());
        var shown = shownAnswer.GetProperty("predictions").EnumerateArray().ToList();
        var produced = actual.GetProperty("predictions").EnumerateArray().ToList();
        for (int i = 0; i < shown.Count; i++)
        {
            Assert.Equal(shown[i].GetProperty("label").GetString(), produced[i].GetProperty("label").GetString());
            Assert.Equal(shown[i].GetProperty("probability").GetDouble(), produced[i].GetProperty("probability").GetDouble(), 2);
        }
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(string command)
    {
        var start = new ProcessStartInfo("bash", ["-c", command])
        {
            WorkingDirectory = _workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    public void Dispose()
    {
        Directory.Delete(_workDir, recursive: true);
        GC.SuppressFinalize(this);
    }
}

/// <summary>The app serving a models folder on a real Kestrel port (curl and browsers cannot reach the in-memory server).</summary>
public sealed class ModelsOnKestrel : WebApplicationFactory<Program>
{
    private readonly string _models;

    public ModelsOnKestrel(string models)
    {
        _models = models;
        UseKestrel(0);
    }

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        builder.UseSetting("Inference:ModelsPath", _models);
        builder.UseSetting("Serilog:MinimumLevel:Default", "Warning");
    }

    /// <summary>Starts it and waits for its models and their explanations (up to 3 minutes); returns its address.</summary>
    public Task<string> StartAsync()
    {
        StartServer();
        return KestrelServiceFactory.ReadyAddressAsync(Services, TimeSpan.FromSeconds(180));
    }
}
