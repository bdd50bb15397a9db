using System.Net;
using System.Net.Http.Json;
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

    [Fact]
    public async Task Swagger_names_every_operation_and_documents_keys_batches_enums_and_the_protocol_body()
    {
        var client = await factory.ReadyClientAsync();
        var doc = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
        var operations = doc.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(o => (Path: p.Name, Method: o.Name, Operation: o.Value))).ToList();
        var ids = operations.Select(o => o.Operation.TryGetProperty("operationId", out var id) ? id.GetString() : null).ToList();
        Assert.DoesNotContain(null, ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());

        var scheme = doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("X-API-Key", scheme.GetProperty("name").GetString());
        Assert.True(doc.GetProperty("security")[0].TryGetProperty("ApiKey", out _));
        foreach (var (path, method, operation) in operations)
        {
            var responses = operation.GetProperty("responses");
            Assert.True(responses.TryGetProperty("504", out _), $"{method} {path}: 504 undocumented");
            bool open = operation.TryGetProperty("security", out var security) && security.GetArrayLength() == 0;
            Assert.Equal(!open, responses.TryGetProperty("401", out _));
            // The protocol's routes document its {"error"} body, the others problem details.
            string errorType = path.StartsWith("/v2") ? "application/json" : "application/problem+json";
            Assert.True(responses.GetProperty("400").GetProperty("content").TryGetProperty(errorType, out _), $"{method} {path}");
            // An unversioned protocol route has no version parameter.
            if (path.StartsWith("/v2/models/{name}") && !path.Contains("{version}") && operation.TryGetProperty("parameters", out var ps))
                Assert.DoesNotContain(ps.EnumerateArray(), p => p.GetProperty("name").GetString() == "version");
        }
        var health = operations.Single(o => o.Path == "/health/live").Operation;
        Assert.Equal(0, health.GetProperty("security").GetArrayLength());

        var camMethod = operations.Single(o => o.Path == "/cam" && o.Method == "get").Operation.GetProperty("parameters").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "method");
        var methods = camMethod.GetProperty("schema").GetProperty("enum").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("gradcam", methods);
        Assert.Contains("scorecam", methods);
        // GET /models offers the same methods (the demo page builds its choice from it), each with its usual title.
        var list = await client.GetFromJsonAsync<JsonElement>("/models");
        var offered = list.GetProperty("camMethods").EnumerateArray().ToList();
        Assert.Equal("tiny", list.GetProperty("defaultModels").GetProperty("classification").GetString());
        Assert.Equal("detector", list.GetProperty("defaultModels").GetProperty("detection").GetString());
        Assert.Equal(methods.Order(), offered.Select(m => m.GetProperty("name").GetString()).Order());
        Assert.Contains(offered, m => m.GetProperty("name").GetString() == "gradcampp" && m.GetProperty("title").GetString() == "Grad-CAM++");
        Assert.False(offered.Single(m => m.GetProperty("name").GetString() == "scorecam").GetProperty("usesGradients").GetBoolean());

        var classify200 = operations.Single(o => o.Path == "/classify").Operation.GetProperty("responses").GetProperty("200")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema");
        Assert.Equal(2, classify200.GetProperty("oneOf").GetArrayLength());
        Assert.Equal("array", classify200.GetProperty("oneOf")[1].GetProperty("type").GetString());

        var infer = operations.Single(o => o.Path == "/v2/models/{name}/infer").Operation;
        var body = infer.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        string reference = body.GetProperty("$ref").GetString()!;
        var inferRequest = doc.GetProperty("components").GetProperty("schemas").GetProperty(reference.Split('/')[^1]);
        Assert.True(inferRequest.GetProperty("properties").TryGetProperty("inputs", out _));
        Assert.All(doc.GetProperty("components").GetProperty("schemas").EnumerateObject(),
            s => Assert.Matches("^[A-Za-z0-9._-]+$", s.Name));
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
