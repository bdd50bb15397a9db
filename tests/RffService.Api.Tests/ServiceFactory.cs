using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Models;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>Hosts the real app (in memory) over a test model repository, with small limits so the limit paths are cheap to hit.</summary>
public class ServiceFactory : WebApplicationFactory<Program>
{
    public const long MaxRequestBytes = 300_000;
    public const long MaxImagePixels = 1_000_000;

    public ServiceFactory()
    {
        Models = new TestModelRepository()
            .AddModel("tiny", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig())
            .AddModel("tiny-rgb", TestModelRepository.TinySpec(channels: 3), TestModelRepository.TinyConfig(channels: 3, resize: "letterbox"))
            .AddGraph("detector", TestModelRepository.TinyDetector(), TestModelRepository.TinyDetectorConfig())
            .AddGraph("detector-letterbox", TestModelRepository.TinyDetector(), TestModelRepository.TinyDetectorConfig("letterbox"))
            .AddGraph("detector-decoded", TestModelRepository.DecodedDetector(), TestModelRepository.DecodedDetectorConfig())
            .AddModelBytes("broken", TestModelRepository.TinyConfig(), "not an onnx file"u8.ToArray());
    }

    public TestModelRepository Models { get; }

    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Inference:ModelsPath"] = Models.Root,
        ["Inference:ExecutionProvider"] = "auto",
        ["Inference:DefaultClassificationModel"] = "tiny",
        ["Inference:MaxImagePixels"] = MaxImagePixels.ToString(),
        ["Inference:MaxBatchImages"] = "4",
        ["Api:MaxRequestBytes"] = MaxRequestBytes.ToString(),
        ["Api:MaxMultipartParts"] = "8",
        ["Serilog:MinimumLevel:Default"] = "Warning",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder) =>
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(Settings));

    /// <summary>A client for a service whose models have finished loading.</summary>
    public async Task<HttpClient> ReadyClientAsync()
    {
        var client = CreateClient();
        var repository = Services.GetRequiredService<ModelRepository>();
        await repository.Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        await repository.ExplanationsChecked.WaitAsync(TimeSpan.FromSeconds(60));
        return client;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) Models.Dispose();
    }
}
