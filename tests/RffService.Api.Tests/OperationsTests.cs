using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Models;
using RffService.Onnx;
using RffService.TestSupport;
using RffService.Vision.Configuration;

namespace RffService.Api.Tests;

/// <summary>A factory whose settings a test chooses, with its own model repository.</summary>
public sealed class ConfigurableFactory : ServiceFactory
{
    private readonly Dictionary<string, string?> _extra;

    public ConfigurableFactory(Dictionary<string, string?> extra, Action<TestModelRepository>? models = null)
    {
        _extra = extra;
        models?.Invoke(Models);
    }

    protected override IDictionary<string, string?> Settings
    {
        get
        {
            var settings = base.Settings;
            foreach (var (key, value) in _extra) settings[key] = value;
            return settings;
        }
    }
}

public class HotReloadTests
{
    private static ByteArrayContent Png(byte[] bytes) => new(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the load loops");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_new_version_swaps_in_under_load_without_a_failed_request()
    {
        using var factory = new ConfigurableFactory(new() { ["Inference:ReloadInterval"] = "00:00:00", ["Inference:RetireDelay"] = "00:00:01" });
        var client = await factory.ReadyClientAsync();
        var image = TestImages.Png(16, 16, gray: true);
        var answers = new List<(bool StartedAfterSwap, int Version)>();
        var failures = new List<string>();
        bool swapped = false;
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                bool afterSwap = Volatile.Read(ref swapped);
                var response = await client.PostAsync("/classify?model=tiny", Png(image));
                string body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK) lock (failures) failures.Add(body);
                else lock (answers) answers.Add((afterSwap, JsonDocument.Parse(body).RootElement.GetProperty("version").GetInt32()));
            }
        })).ToArray();
        await WaitUntilAsync(() => { lock (answers) return answers.Count >= 20; });

        // Drop version 2 (other random features) into the model folder, then ask for a reload.
        OnnxModelFile.Save(RffCnnBuilder.Build(TestModelRepository.TinySpec(seed: 99)), factory.Models.ModelPath("tiny", 2));
        var reload = await (await client.PostAsync("/admin/models/tiny/reload", null)).Content.ReadFromJsonAsync<JsonElement>();
        Volatile.Write(ref swapped, true);
        int atSwap;
        lock (answers) atSwap = answers.Count;
        await WaitUntilAsync(() => { lock (answers) return answers.Count >= atSwap + 20; });
        // A broken version 3 is refused; version 2 keeps serving.
        Directory.CreateDirectory(Path.GetDirectoryName(factory.Models.ModelPath("tiny", 3))!);
        File.WriteAllBytes(factory.Models.ModelPath("tiny", 3), "truncated"u8.ToArray());
        var refused = await (await client.PostAsync("/admin/models/reload", null)).Content.ReadFromJsonAsync<JsonElement>();
        lock (answers) atSwap = answers.Count;
        await WaitUntilAsync(() => { lock (answers) return answers.Count >= atSwap + 20; });
        stop.Cancel();
        await Task.WhenAll(load);

        Assert.Equal("reloaded", reload[0].GetProperty("action").GetString());
        Assert.Equal(2, reload[0].GetProperty("version").GetInt32());
        var failed = refused.EnumerateArray().Single(r => r.GetProperty("model").GetString() == "tiny");
        Assert.Equal("failed", failed.GetProperty("action").GetString());
        Assert.Contains("not a valid ONNX model", failed.GetProperty("error").GetString());
        Assert.Empty(failures);
        Assert.Contains(answers, a => !a.StartedAfterSwap && a.Version == 1);
        // Every request that started after the swap was answered by version 2 (never 1 again, nor the broken 3).
        Assert.All(answers.Where(a => a.StartedAfterSwap), a => Assert.Equal(2, a.Version));
        var model = await client.GetFromJsonAsync<JsonElement>("/models/tiny");
        Assert.Equal(2, model.GetProperty("version").GetInt32());
        Assert.Equal("ready", model.GetProperty("state").GetString());
        // The failed reload is visible next to the version still serving, and counted.
        var failure = model.GetProperty("lastReloadFailure");
        Assert.Contains("not a valid ONNX model", failure.GetProperty("error").GetString());
        Assert.True(DateTimeOffset.UtcNow - failure.GetProperty("at").GetDateTimeOffset() < TimeSpan.FromMinutes(5));
        Assert.Contains("rff_model_reload_failures_total{model=\"tiny\"} 1", await client.GetStringAsync("/metrics"));
        // The same broken files are not loaded again.
        var again = await (await client.PostAsync("/admin/models/reload", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.DoesNotContain(again.EnumerateArray(), r => r.GetProperty("model").GetString() == "tiny");
    }

    [Fact]
    public async Task The_repository_is_watched_for_new_models_and_versions()
    {
        using var factory = new ConfigurableFactory(new() { ["Inference:ReloadInterval"] = "00:00:00.200", ["Inference:RetireDelay"] = "00:00:00.100" });
        var client = await factory.ReadyClientAsync();
        factory.Models.AddModel("added", TestModelRepository.TinySpec(seed: 5), TestModelRepository.TinyConfig());

        var deadline = DateTime.UtcNow.AddSeconds(20);
        HttpStatusCode status;
        do
        {
            await Task.Delay(100);
            status = (await client.PostAsync("/classify?model=added", Png(TestImages.Png(16, 16)))).StatusCode;
        } while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.OK, status);
    }
}

public class OverloadTests
{
    [Fact]
    public async Task A_flood_far_beyond_capacity_gets_503s_not_500s_and_the_admitted_requests_are_right()
    {
        using var factory = new ConfigurableFactory(new()
        {
            ["Inference:Batching:MaxQueueSize"] = "2",
            ["Inference:Batching:MaxBatchSize"] = "1",
            ["Inference:Batching:MaxQueueDelayMicroseconds"] = "0",
            ["Inference:MaxBatchImages"] = "1",
        }, models => models.AddModel("heavy", HeavySpec(), HeavyConfig()));
        var client = await factory.ReadyClientAsync();
        var images = Enumerable.Range(0, 8).Select(i => TestImages.Png(40 + i, 40)).ToArray();
        var expected = new Dictionary<int, string>();
        for (int i = 0; i < images.Length; i++)
            expected[i] = (await (await client.PostAsync("/classify?model=heavy&topK=1", Png(images[i]))).Content.ReadFromJsonAsync<JsonElement>())
                .GetProperty("predictions")[0].GetProperty("label").GetString()!;
        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true);

        var flood = Enumerable.Range(0, 400).Select(i => Task.Run(async () =>
        {
            var response = await client.PostAsync("/classify?model=heavy&topK=1", Png(images[i % images.Length]));
            string body = await response.Content.ReadAsStringAsync();
            return (Index: i % images.Length, response.StatusCode, RetryAfter: response.Headers.RetryAfter, Body: body);
        })).ToArray();
        var answers = await Task.WhenAll(flood);

        Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{(int)a.StatusCode}: {a.Body}"));
        Assert.Contains(answers, a => a.StatusCode == HttpStatusCode.ServiceUnavailable);
        Assert.All(answers.Where(a => a.StatusCode == HttpStatusCode.ServiceUnavailable), a => Assert.NotNull(a.RetryAfter));
        foreach (var admitted in answers.Where(a => a.StatusCode == HttpStatusCode.OK))
        {
            using var json = JsonDocument.Parse(admitted.Body);
            Assert.Equal(expected[admitted.Index], json.RootElement.GetProperty("predictions")[0].GetProperty("label").GetString());
        }
        // Right after the flood the service answers normally, and it kept nothing of it.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=heavy", Png(images[0]))).StatusCode);
        Assert.Equal(0, factory.Services.GetRequiredService<ModelRepository>().Find("heavy")!.Runtime!.Batcher!.QueueLength);
        GC.Collect();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 64L * 1024 * 1024, $"managed memory grew by {(after - before) / 1048576} MiB");
    }

    private static ByteArrayContent Png(byte[] bytes) => new(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };

    /// <summary>A classifier slow enough (a few ms per image) for a flood to fill its queue.</summary>
    public static RffCnnSpec HeavySpec()
    {
        var random = new Random(3);
        var layers = new[]
        {
            RffLayerSpec.Random(1, 32, 5, 2f, 1, random),
            RffLayerSpec.Random(32, 64, 3, 4f, 2, random),
        };
        var readout = Enumerable.Range(0, 3 * 64).Select(_ => (float)RffLayerSpec.Gaussian(random)).ToArray();
        return new RffCnnSpec(1, 64, 64, layers, readout, [0f, 0f, 0f]);
    }

    public static ModelConfig HeavyConfig() => TestModelRepository.TinyConfig() with
    {
        Input = TestModelRepository.TinyConfig().Input with { Width = 64, Height = 64 },
    };
}

public class CancellationTests
{
    private static ByteArrayContent Png(byte[] bytes) => new(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } };

    /// <summary>Waits for a condition the test can observe (a queue's count), failing after a generous bound.</summary>
    internal static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the condition");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_client_that_goes_away_cancels_its_work_before_it_runs()
    {
        // An image waits up to 1.5 s for company, so the request is still waiting when the client gives up.
        using var factory = new ConfigurableFactory(new() { ["Inference:Batching:MaxQueueDelayMicroseconds"] = "1500000", ["Inference:Batching:WaitWhenIdle"] = "true" });
        var client = await factory.ReadyClientAsync();
        var batcher = factory.Services.GetRequiredService<ModelRepository>().Find("tiny")!.Runtime!.Batcher!;
        int runs = 0;
        batcher.BatchRan += _ => Interlocked.Increment(ref runs);
        using var cancel = new CancellationTokenSource();

        var abandoned = client.PostAsync("/classify?model=tiny", Png(TestImages.Png(16, 16)), cancel.Token);
        await Until(() => batcher.Waiting == 1); // accepted, waiting for company
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        await Until(() => batcher.Waiting == 0); // the server saw the client go and took the image out

        // The next request runs alone: the abandoned image never ran, not even with it.
        var response = await client.PostAsync("/classify?model=tiny", Png(TestImages.Png(16, 16)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, runs);
        Assert.Equal(0, batcher.Waiting);
    }

    [Fact]
    public async Task A_request_over_the_timeout_is_cancelled_with_504()
    {
        using var factory = new ConfigurableFactory(new()
        {
            ["Inference:Batching:MaxQueueDelayMicroseconds"] = "3000000",
            ["Inference:Batching:WaitWhenIdle"] = "true",
            ["Api:RequestTimeout"] = "00:00:00.300",
        });
        var client = await factory.ReadyClientAsync();
        var batcher = factory.Services.GetRequiredService<ModelRepository>().Find("tiny")!.Runtime!.Batcher!;
        int runs = 0;
        batcher.BatchRan += _ => Interlocked.Increment(ref runs);
        var response = await client.PostAsync("/classify?model=tiny", Png(TestImages.Png(16, 16)));
        Assert.Contains("RequestTimeout", await Problems.AssertProblemAsync(response, HttpStatusCode.GatewayTimeout));
        await Until(() => batcher.Waiting == 0); // the timed-out image left the queue: its work stopped
        Assert.Equal(0, runs);
    }

}

[Trait("Category", "Slow")]
[Trait("Needs", "Process")]
public class GracefulShutdownTests
{
    [Fact]
    public async Task Sigterm_finishes_in_flight_requests_and_exits_zero()
    {
        using var models = new TestModelRepository().AddModel("tiny", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig());
        int port = FreePort();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "RffService.Api.dll")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["Inference__ModelsPath"] = models.Root,
                ["Inference__DefaultClassificationModel"] = "tiny",
                // The request waits 3 s in the batcher: it is in flight when SIGTERM arrives.
                ["Inference__Batching__MaxQueueDelayMicroseconds"] = "3000000",
                ["Inference__Batching__WaitWhenIdle"] = "true",
                ["Api__ShutdownTimeout"] = "00:00:10",
            },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode) break;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline || process.HasExited)
            {
                if (!process.HasExited) process.Kill();
                Assert.Fail($"the service did not become ready (exit {(process.HasExited ? process.ExitCode : -1)}): {await errors} {await output}");
            }
            await Task.Delay(100);
        }

        var inFlight = http.PostAsync("/classify", new ByteArrayContent(TestImages.Png(16, 16)) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } });
        // In flight: the model's queue (its gauge on /metrics) holds the request.
        await CancellationTests.Until(() => http.GetStringAsync("/metrics").GetAwaiter().GetResult().Contains("rff_queue_length{model=\"tiny\"} 1"));
        Process.Start("kill", ["-TERM", process.Id.ToString()])!.WaitForExit();

        var response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(process.WaitForExit(15_000), "the service did not exit after SIGTERM");
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}: {await errors} {await output}");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync("/health/live"));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
