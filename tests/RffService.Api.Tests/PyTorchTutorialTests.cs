using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>
/// docs/pytorch.md as a tutorial, run as written: its Python snippets (sections 1 to 4, in order, as one session, with
/// Debian's torch and torchvision) train, export and place three models in a models/ folder; its shell commands then
/// run against that folder (inspect) and against the service serving it (every curl, with --fail-with-body). What the
/// answers must say comes from the tutorial's own output: the image's true label, the accuracy it printed.
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "PyTorch")]
public partial class PyTorchTutorialTests : IDisposable
{
    private const string DocAddress = "localhost:5080";
    private const string DocInspect = "dotnet src/RffService.Api/bin/Release/net10.0/RffService.Api.dll";
    private readonly string _workDir = Directory.CreateTempSubdirectory("rff-tutorial-").FullName;

    [GeneratedRegex(@"```(?<language>python|bash)\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    /// <summary>The tutorial's code blocks (everything before the parity suite's section), in order.</summary>
    private static List<(string Language, string Code)> Blocks()
    {
        string page = File.ReadAllText(Path.Combine(FashionMnistFixture.FindRepositoryRoot(), "docs", "pytorch.md"));
        int end = page.IndexOf("## What the parity suite checks", StringComparison.Ordinal);
        Assert.True(end > 0, "docs/pytorch.md has no parity section");
        return CodeBlock().Matches(page[..end]).Select(m => (m.Groups["language"].Value, m.Groups["code"].Value)).ToList();
    }

    [Fact]
    public async Task The_tutorial_runs_as_written_and_the_service_answers_what_it_trained()
    {
        var blocks = Blocks();
        string python = string.Join("\n", blocks.Where(b => b.Language == "python").Select(b => b.Code));
        var commands = blocks.Where(b => b.Language == "bash").SelectMany(b => b.Code.Split('\n')).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        Assert.True(blocks.Count(b => b.Language == "python") >= 4, "the tutorial lost its Python snippets");

        File.WriteAllText(Path.Combine(_workDir, "tutorial.py"), python);
        var (exit, output, error) = await RunAsync("/usr/bin/python3 tutorial.py", TimeSpan.FromMinutes(6));
        Assert.True(exit == 0, $"the tutorial's Python failed (exit {exit}):\n{error}\n{output}");
        string truth = Regex.Match(output, @"item\.png shows: (\w+)").Groups[1].Value;
        Assert.Contains(truth, new[] { "horizontal", "vertical" });
        double accuracy = double.Parse(Regex.Match(output, @"held-out accuracy: ([0-9.]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(accuracy >= 0.9, $"the tutorial's model reaches {accuracy} on held-out stripes");
        foreach (var model in new[] { "stripes", "stripes-plain", "ssdlite" })
            Assert.True(File.Exists(Path.Combine(_workDir, "models", model, "1", "model.onnx")), model);

        // Section 3: inspect, with the service's own build in place of the Release path.
        var inspects = commands.Where(c => c.StartsWith(DocInspect, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(inspects);
        foreach (string inspect in inspects)
        {
            var (inspectExit, inspected, inspectError) = await RunAsync(
                inspect.Replace(DocInspect, $"dotnet {Path.Combine(AppContext.BaseDirectory, "RffService.Api.dll")}"), TimeSpan.FromMinutes(2));
            Assert.True(inspectExit == 0, $"{inspect}\nexit {inspectExit}: {inspectError}\n{inspected}");
            // The proposed config.json on stdout; on stderr both RFF layers of the plain export (the operator without
            // its definition), and no placeholder left.
            Assert.Equal("classification", JsonDocument.Parse(inspected).RootElement.GetProperty("task").GetString());
            Assert.Equal(2, Regex.Matches(inspectError, @"^RFF layer ", RegexOptions.Multiline).Count);
            Assert.DoesNotContain("MISSING", inspectError);
        }

        // Section 4: the service on the tutorial's models/ folder, every curl as written.
        using var service = new ModelsOnKestrel(Path.Combine(_workDir, "models"));
        string address = await service.StartAsync();
        var curls = commands.Where(c => c.StartsWith("curl ", StringComparison.Ordinal)).ToList();
        Assert.True(curls.Count >= 5, $"{curls.Count} curl commands");
        var probabilities = new List<double>();
        foreach (string curl in curls)
        {
            Assert.Contains(DocAddress, curl);
            var (curlExit, answer, curlError) = await RunAsync(curl.Replace(DocAddress, address).Replace("curl ", "curl -sS --fail-with-body "), TimeSpan.FromMinutes(2));
            Assert.True(curlExit == 0, $"{curl}\nexit {curlExit}: {curlError}\n{answer}");
            var json = JsonDocument.Parse(answer).RootElement;
            if (curl.Contains("/classify", StringComparison.Ordinal))
            {
                var top = json.GetProperty("predictions")[0];
                if (curl.Contains("ablate=", StringComparison.Ordinal))
                {
                    Assert.Equal(truth, json.GetProperty("original")[0].GetProperty("label").GetString());
                    Assert.NotEmpty(json.GetProperty("intervention").GetProperty("applied").EnumerateArray());
                    continue;
                }
                Assert.Equal(truth, top.GetProperty("label").GetString());
                probabilities.Add(top.GetProperty("probability").GetDouble());
            }
            else if (curl.Contains("/cam", StringComparison.Ordinal))
            {
                Assert.Equal(truth, json.GetProperty("target").GetProperty("label").GetString());
                Assert.False(string.IsNullOrEmpty(json.GetProperty("overlay").GetString()));
            }
            else if (curl.Contains("/detect", StringComparison.Ordinal))
                Assert.Equal(JsonValueKind.Array, json.GetProperty("detections").ValueKind);
        }
        // The package's export and the plain one are the same network.
        Assert.Equal(2, probabilities.Count);
        Assert.True(Math.Abs(probabilities[0] - probabilities[1]) <= 1e-4, string.Join(", ", probabilities));
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(string command, TimeSpan limit)
    {
        var start = new ProcessStartInfo("bash", ["-c", command])
        {
            WorkingDirectory = _workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PYTHONPATH"] = Path.Combine(FashionMnistFixture.FindRepositoryRoot(), "python");
        start.Environment["OMP_NUM_THREADS"] = "1"; // Debian's torch is far slower with two threads on two cores
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{command}' ran over {limit}");
        }
        return (process.ExitCode, await output, await error);
    }

    public void Dispose()
    {
        Directory.Delete(_workDir, recursive: true);
        GC.SuppressFinalize(this);
    }
}
