using System.Net.Http.Json;
using System.Net;
using System.Text.Json;

namespace RffService.Api.Tests;

public class ModelAndHealthEndpointTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    [Fact]
    public async Task Models_lists_ready_and_failed_models_with_their_details()
    {
        var client = await factory.ReadyClientAsync();
        var json = await client.GetFromJsonAsync<JsonElement>("/models");
        var models = json.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!);

        Assert.Equal(["broken", "detector", "detector-decoded", "detector-letterbox", "tiny", "tiny-rgb"], models.Keys.Order());
        var tiny = models["tiny"];
        Assert.Equal("ready", tiny.GetProperty("state").GetString());
        Assert.Equal("classification", tiny.GetProperty("task").GetString());
        Assert.Contains(tiny.GetProperty("executionProvider").GetString(), new[] { "CPUExecutionProvider", "CUDAExecutionProvider" }); // the factory says auto
        Assert.Equal(16, tiny.GetProperty("input").GetProperty("width").GetInt32());
        Assert.Equal(["circle", "square", "triangle"], tiny.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        var camLayers = tiny.GetProperty("camLayers").EnumerateArray().ToList();
        Assert.Equal(["rff1", "rff2"], camLayers.Where(l => l.GetProperty("kind").GetString() == "rff").Select(l => l.GetProperty("name").GetString()));
        Assert.Equal("rff2", tiny.GetProperty("defaultCamLayer").GetString());
        Assert.Equal([8, 8, 8], camLayers.Last().GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
        var layer = tiny.GetProperty("rffLayers")[0];
        Assert.Equal(1.5f, layer.GetProperty("sigma").GetSingle());
        Assert.Equal(6, layer.GetProperty("outChannels").GetInt32());
        Assert.Equal("custom-op", layer.GetProperty("form").GetString());

        var broken = models["broken"];
        Assert.Equal("failed", broken.GetProperty("state").GetString());
        Assert.Contains("not a valid ONNX model", broken.GetProperty("error").GetString());
    }

    [Fact]
    public async Task One_model_by_name_or_404()
    {
        var client = await factory.ReadyClientAsync();
        var tiny = await client.GetFromJsonAsync<JsonElement>("/models/tiny-rgb");
        Assert.Equal("letterbox", tiny.GetProperty("input").GetProperty("resize").GetString());
        await Problems.AssertProblemAsync(await client.GetAsync("/models/unknown"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Health_live_and_ready()
    {
        var client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        var ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var json = await ready.Content.ReadFromJsonAsync<JsonElement>();
        var states = json.GetProperty("checks").GetProperty("models").GetProperty("data");
        Assert.Equal("failed", states.GetProperty("broken").GetString());
        Assert.Equal("ready", states.GetProperty("tiny").GetString());
    }

    [Fact]
    public async Task Swagger_documents_classify_with_an_upload_form_and_every_error()
    {
        var client = await factory.ReadyClientAsync();
        var doc = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
        var classify = doc.GetProperty("paths").GetProperty("/classify").GetProperty("post");
        var content = classify.GetProperty("requestBody").GetProperty("content");
        Assert.Equal("binary", content.GetProperty("multipart/form-data").GetProperty("schema").GetProperty("properties")
            .GetProperty("image").GetProperty("items").GetProperty("format").GetString());
        Assert.True(content.TryGetProperty("application/json", out _));
        Assert.True(content.TryGetProperty("image/jpeg", out _));
        var responses = classify.GetProperty("responses");
        foreach (var status in new[] { "200", "400", "404", "413", "415", "422", "503" })
            Assert.True(responses.TryGetProperty(status, out _), $"response {status} is not documented");
        var parameters = classify.GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.False(string.IsNullOrEmpty(parameters["topK"].GetProperty("description").GetString()));
        foreach (var path in new[] { "/models", "/models/{name}", "/health/live", "/health/ready" })
            Assert.True(doc.GetProperty("paths").TryGetProperty(path, out _), $"{path} is not documented");

        var ui = await client.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, ui.StatusCode);
    }
}

/// <summary>A service whose repository has no usable model is alive but not ready.</summary>
public class NotReadyTests
{
    private sealed class EmptyRepositoryFactory : ServiceFactory
    {
        protected override IDictionary<string, string?> Settings
        {
            get
            {
                var settings = base.Settings;
                settings["Inference:ModelsPath"] = Path.Combine(Models.Root, "broken");
                return settings;
            }
        }
    }

    [Fact]
    public async Task Ready_is_503_when_no_model_serves()
    {
        using var factory = new EmptyRepositoryFactory();
        var client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health/ready")).StatusCode);
        var response = await client.PostAsync("/classify", new ByteArrayContent(TestSupport.TestImages.Png())
        {
            Headers = { ContentType = new("image/png") },
        });
        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound);
    }
}
