using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>OpenTelemetry tracing: off by default; when on, request, batch and model-run spans reach an OTLP collector.</summary>
public class TracingTests
{
    [Fact]
    public async Task Tracing_is_off_by_default()
    {
        await using var factory = new ServiceFactory();
        await factory.ReadyClientAsync();
        Assert.Null(factory.Services.GetService<TracerProvider>());
    }

    [Fact]
    public async Task When_on_spans_with_model_batch_size_and_queue_time_are_exported_over_otlp()
    {
        // A stand-in OTLP/HTTP collector that keeps what it receives.
        var (collector, port) = StartCollector();
        using var _ = collector;
        var received = new List<(string ContentType, byte[] Body)>();
        var listening = Task.Run(async () =>
        {
            while (collector.IsListening)
            {
                HttpListenerContext context;
                try { context = await collector.GetContextAsync(); }
                catch (HttpListenerException) { return; }
                catch (ObjectDisposedException) { return; }
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                lock (received) received.Add((context.Request.ContentType ?? "", body.ToArray()));
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });

        var factory = new TracingFactory(new()
        {
            ["Tracing:Enabled"] = "true",
            ["Tracing:OtlpProtocol"] = "http/protobuf",
            ["Tracing:OtlpEndpoint"] = $"http://127.0.0.1:{port}/v1/traces",
        });
        var client = await factory.ReadyClientAsync();
        Assert.NotNull(factory.Services.GetService<TracerProvider>());
        var png = new ByteArrayContent(TestImages.Png(16, 16, gray: true));
        png.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=tiny", png)).StatusCode);
        // The request's span ends when the server has finished with the request, which can be just after
        // the client has its answer: flush until every expected span has arrived (or 10 s have passed).
        var expected = new[] { "POST /classify", "rff.batch", "rff.model_run", "rff.model", "tiny", "rff.batch_size", "rff.queue_time_ms", "rffservice" };
        var tracer = factory.Services.GetRequiredService<TracerProvider>();
        string text = "";
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            Assert.True(tracer.ForceFlush(10_000));
            lock (received) text = Encoding.UTF8.GetString(received.SelectMany(r => r.Body).ToArray()); // protobuf strings are UTF-8 as they are
            if (expected.All(text.Contains)) break;
            await Task.Delay(100);
        } while (DateTime.UtcNow < deadline);
        await factory.DisposeAsync();

        lock (received) Assert.Contains(received, r => r.ContentType.StartsWith("application/x-protobuf"));
        foreach (var name in expected)
            Assert.Contains(name, text);
        collector.Stop();
        await listening;
    }

    /// <summary>
    /// An HttpListener on a free loopback port. The port is found by binding port 0 and released before HttpListener
    /// binds it, so a test running in parallel may take it in between: then another port is tried.
    /// </summary>
    private static (HttpListener Listener, int Port) StartCollector()
    {
        for (int attempt = 1; ; attempt++)
        {
            var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Close();
            }
        }
    }

    private sealed class TracingFactory(Dictionary<string, string> settings) : ServiceFactory
    {
        protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            foreach (var (key, value) in settings) builder.UseSetting(key, value);
        }
    }
}
