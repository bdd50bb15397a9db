using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using System.Text;
using RffService.TestSupport;
using RffService.Vision.Imaging;

namespace RffService.Api.Tests;

/// <summary>The Open Inference Protocol (KServe v2 REST) against the native endpoints.</summary>
public class OpenInferenceTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<string> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        string error = json.RootElement.GetProperty("error").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(error));
        return error;
    }

    private static float[] Tensor(byte[] png, int side = 16)
    {
        using var image = ImageDecoder.Decode(png, 1_000_000);
        var tensor = new float[side * side];
        ImagePreprocessor.WriteTensor(image, InputSpec.From(TestModelRepository.TinyConfig().Input), tensor);
        return tensor;
    }

    private static float[] Softmax(float[] logits)
    {
        var result = new float[logits.Length];
        Vision.Postprocessing.Softmax.Apply(logits, result);
        return result;
    }

    [Fact]
    public async Task Server_metadata_liveness_and_readiness()
    {
        var client = await factory.ReadyClientAsync();
        var metadata = await client.GetFromJsonAsync<JsonElement>("/v2");
        Assert.Equal("rffservice", metadata.GetProperty("name").GetString());
        Assert.False(string.IsNullOrEmpty(metadata.GetProperty("version").GetString()));
        Assert.Equal(JsonValueKind.Array, metadata.GetProperty("extensions").ValueKind);
        Assert.True((await client.GetFromJsonAsync<JsonElement>("/v2/health/live")).GetProperty("live").GetBoolean());
        Assert.True((await client.GetFromJsonAsync<JsonElement>("/v2/health/ready")).GetProperty("ready").GetBoolean());
    }

    [Fact]
    public async Task Model_metadata_lists_the_models_own_tensors()
    {
        var client = await factory.ReadyClientAsync();
        foreach (var path in new[] { "/v2/models/tiny", "/v2/models/tiny/versions/1" })
        {
            var metadata = await client.GetFromJsonAsync<JsonElement>(path);
            Assert.Equal("tiny", metadata.GetProperty("name").GetString());
            Assert.Equal(["1"], metadata.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
            Assert.Equal("onnxruntime_onnx", metadata.GetProperty("platform").GetString());
            static string Describe(JsonElement t) =>
                $"{t.GetProperty("name").GetString()} {t.GetProperty("datatype").GetString()} [{string.Join(", ", t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()))}]";
            // Two ways in: the model's own tensor, and encoded images.
            var inputs = metadata.GetProperty("inputs").EnumerateArray().Select(Describe).ToList();
            Assert.Equal(["input FP32 [-1, 1, 16, 16]", "image BYTES [-1]"], inputs);
            // The model's output (not the RFF activations exposed for explanations), then what BYTES requests return.
            var outputs = metadata.GetProperty("outputs").EnumerateArray().Select(Describe).ToList();
            Assert.Equal(["logits FP32 [-1, 3]", "probabilities FP32 [-1, 3]", "class_index INT64 [-1]", "label BYTES [-1]"], outputs);
        }
        var detector = await client.GetFromJsonAsync<JsonElement>("/v2/models/detector-decoded");
        Assert.Contains(detector.GetProperty("outputs").EnumerateArray(), o => o.GetProperty("datatype").GetString() == "INT64");
        Assert.Contains(detector.GetProperty("outputs").EnumerateArray(), o => o.GetProperty("name").GetString() == "detection_boxes");
        await AssertErrorAsync(await client.GetAsync("/v2/models/tiny/versions/2"), HttpStatusCode.NotFound);
        await AssertErrorAsync(await client.GetAsync("/v2/models/nope"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Model_readiness()
    {
        var client = await factory.ReadyClientAsync();
        var ready = await client.GetFromJsonAsync<JsonElement>("/v2/models/tiny/ready");
        Assert.True(ready.GetProperty("ready").GetBoolean());
        Assert.Contains("failed", await AssertErrorAsync(await client.GetAsync("/v2/models/broken/ready"), HttpStatusCode.BadRequest));
        await AssertErrorAsync(await client.GetAsync("/v2/models/nope/ready"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Fp32_tensor_inference_gives_the_logits_behind_classify()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png(16, 16, gray: true);
        var tensor = Tensor(png);
        // The request body as the protocol's documentation shows it: id, inputs (name, shape, datatype, data), outputs.
        var body = JsonSerializer.Serialize(new
        {
            id = "42",
            inputs = new[] { new { name = "input", shape = new[] { 1, 1, 16, 16 }, datatype = "FP32", data = tensor } },
            outputs = new[] { new { name = "logits" } },
        });

        var response = await client.PostAsync("/v2/models/tiny/infer", Json(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("tiny", result.GetProperty("model_name").GetString());
        Assert.Equal("1", result.GetProperty("model_version").GetString());
        Assert.Equal("42", result.GetProperty("id").GetString());
        var output = Assert.Single(result.GetProperty("outputs").EnumerateArray());
        Assert.Equal("logits", output.GetProperty("name").GetString());
        Assert.Equal("FP32", output.GetProperty("datatype").GetString());
        Assert.Equal([1L, 3], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        var probabilities = Softmax(output.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray());

        var classify = await client.PostAsync("/classify?model=tiny&topK=3", new ByteArrayContent(png) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } });
        foreach (var p in (await classify.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("predictions").EnumerateArray())
            Assert.Equal(p.GetProperty("probability").GetSingle(), probabilities[p.GetProperty("index").GetInt32()], 5);
    }

    [Fact]
    public async Task Nested_data_and_batches_are_accepted()
    {
        var client = await factory.ReadyClientAsync();
        var a = Tensor(TestImages.Png(16, 16, gray: true));
        var b = Tensor(TestImages.Png(24, 24, gray: true));
        var nested = new[] { a, b }.Select(t => new[] { Enumerable.Range(0, 16).Select(r => t.Skip(r * 16).Take(16).ToArray()).ToArray() }).ToArray();
        var body = JsonSerializer.Serialize(new { inputs = new[] { new { name = "input", shape = new[] { 2, 1, 16, 16 }, datatype = "FP32", data = nested } } });

        var result = await (await client.PostAsync("/v2/models/tiny/infer", Json(body))).Content.ReadFromJsonAsync<JsonElement>();

        var output = Assert.Single(result.GetProperty("outputs").EnumerateArray());
        Assert.Equal([2L, 3], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.False(result.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task Bytes_images_give_probabilities_labels_and_detections_like_the_native_endpoints()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png(20, 20);
        var body = JsonSerializer.Serialize(new { inputs = new[] { new { name = "image", shape = new[] { 1 }, datatype = "BYTES", data = new[] { Convert.ToBase64String(png) } } } });
        var result = await (await client.PostAsync("/v2/models/tiny/infer", Json(body))).Content.ReadFromJsonAsync<JsonElement>();
        var outputs = result.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        var native = await (await client.PostAsync("/classify?model=tiny&topK=1", new ByteArrayContent(png) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var top = native.GetProperty("predictions")[0];
        Assert.Equal(top.GetProperty("label").GetString(), outputs["label"].GetProperty("data")[0].GetString());
        Assert.Equal(top.GetProperty("index").GetInt64(), outputs["class_index"].GetProperty("data")[0].GetInt64());
        Assert.Equal(top.GetProperty("probability").GetSingle(), outputs["probabilities"].GetProperty("data")[top.GetProperty("index").GetInt32()].GetSingle(), 5);

        // Detector: two bright 8x8 cells of a 32x32 image.
        using var bitmap = new SkiaSharp.SKBitmap(32, 32);
        bitmap.Erase(SkiaSharp.SKColors.Black);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) { bitmap.SetPixel(x, y, SkiaSharp.SKColors.White); bitmap.SetPixel(24 + x, 24 + y, SkiaSharp.SKColors.White); }
        var image = TestImages.Encode(bitmap, SkiaSharp.SKEncodedImageFormat.Png);
        body = JsonSerializer.Serialize(new
        {
            inputs = new[] { new { name = "image", shape = new[] { 1 }, datatype = "BYTES", data = new[] { Convert.ToBase64String(image) } } },
            parameters = new { score_threshold = 0.5 },
        });
        result = await (await client.PostAsync("/v2/models/detector/infer", Json(body))).Content.ReadFromJsonAsync<JsonElement>();
        outputs = result.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal(2, outputs["num_detections"].GetProperty("data")[0].GetInt64());
        Assert.Equal([1L, 2, 4], outputs["detection_boxes"].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        var boxes = outputs["detection_boxes"].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var expected = new HashSet<string> { "0,0,8,8", "24,24,32,32" };
        Assert.True(expected.SetEquals([string.Join(",", boxes[..4]), string.Join(",", boxes[4..])]), string.Join(" ", boxes));
    }

    [Fact]
    public async Task The_ablate_parameter_gives_the_same_intervention_as_classify()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png(20, 20);
        var body = JsonSerializer.Serialize(new
        {
            inputs = new[] { new { name = "image", shape = new[] { 1 }, datatype = "BYTES", data = new[] { Convert.ToBase64String(png) } } },
            parameters = new { ablate = "rff2:top3" },
        });
        var result = await (await client.PostAsync("/v2/models/tiny/infer", Json(body))).Content.ReadFromJsonAsync<JsonElement>();
        var outputs = result.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        var native = await (await client.PostAsync($"/classify?model=tiny&topK=3&ablate={Uri.EscapeDataString("rff2:top3")}",
            new ByteArrayContent(png) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } })).Content.ReadFromJsonAsync<JsonElement>();
        foreach (var (output, field) in new[] { ("probabilities", "predictions"), ("original_probabilities", "original") })
            foreach (var p in native.GetProperty(field).EnumerateArray())
                Assert.Equal(p.GetProperty("probability").GetSingle(), outputs[output].GetProperty("data")[p.GetProperty("index").GetInt32()].GetSingle(), 5);
        var applied = JsonDocument.Parse(result.GetProperty("parameters").GetProperty("intervention").GetString()!).RootElement[0][0];
        Assert.Equal(native.GetProperty("intervention").GetProperty("applied")[0].GetProperty("channels").ToString(), applied.GetProperty("channels").ToString());

        var malformed = JsonSerializer.Serialize(new
        {
            inputs = new[] { new { name = "image", shape = new[] { 1 }, datatype = "BYTES", data = new[] { Convert.ToBase64String(png) } } },
            parameters = new { ablate = "rff2" },
        });
        Assert.Contains("<layer>:", await AssertErrorAsync(await client.PostAsync("/v2/models/tiny/infer", Json(malformed)), HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task Fp32_on_a_detector_returns_its_raw_scores_and_offsets()
    {
        var client = await factory.ReadyClientAsync();
        var body = JsonSerializer.Serialize(new { inputs = new[] { new { name = "input", shape = new[] { 1, 1, 32, 32 }, datatype = "FP32", data = new float[1024] } } });
        var result = await (await client.PostAsync("/v2/models/detector/infer", Json(body))).Content.ReadFromJsonAsync<JsonElement>();
        var shapes = result.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!,
            o => o.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray());
        Assert.Equal([1L, 32, 2], shapes["scores"]);
        Assert.Equal([1L, 32, 4], shapes["boxes"]);
    }

    [Theory]
    [InlineData("""{"inputs":[{"name":"input","shape":[1,1,8,8],"datatype":"FP32","data":[]}]}""", "needs 64 values")]
    [InlineData("""{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}""", "16 x 16")]
    [InlineData("""{"inputs":[{"name":"input","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}""", "rank 1")]
    [InlineData("""{"inputs":[{"name":"input","shape":[1],"datatype":"INT8","data":[1]}]}""", "INT8")]
    [InlineData("""{"inputs":[{"name":"input","shape":[2],"datatype":"FP32","data":[1,"x"]}]}""", "number")]
    [InlineData("""{"inputs":[{"name":"other","shape":[1,1,16,16],"datatype":"FP32","data":[[0]]}]}""", "needs 256")]
    [InlineData("""{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","data":["***"]}]}""", "base64")]
    [InlineData("""{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","data":["aGVsbG8="]}]}""", "image")]
    [InlineData("""{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","data":["aGVsbG8="]}],"outputs":[{"name":"nope"}]}""", "nope")]
    [InlineData("""{"inputs":[]}""", "non-empty")]
    [InlineData("""{"inputs":[{"name":"input","shape":[-1],"datatype":"FP32","data":[]}]}""", "non-negative")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"inputs": """, "not valid JSON")]
    public async Task Bad_requests_get_the_protocols_error_body(string body, string mention)
    {
        var client = await factory.ReadyClientAsync();
        string error = await AssertErrorAsync(await client.PostAsync("/v2/models/tiny/infer", Json(body)), HttpStatusCode.BadRequest);
        Assert.Contains(mention, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Wrong_model_or_version_and_failed_models()
    {
        var client = await factory.ReadyClientAsync();
        const string body = """{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[1]}]}""";
        await AssertErrorAsync(await client.PostAsync("/v2/models/nope/infer", Json(body)), HttpStatusCode.NotFound);
        await AssertErrorAsync(await client.PostAsync("/v2/models/tiny/versions/9/infer", Json(body)), HttpStatusCode.NotFound);
        // A model that failed to load stays failed until its files change: no Retry-After.
        var failed = await client.PostAsync("/v2/models/broken/infer", Json(body));
        await AssertErrorAsync(failed, HttpStatusCode.ServiceUnavailable);
        Assert.Null(failed.Headers.RetryAfter);
        Assert.Null((await client.GetAsync("/v2/models/broken")).Headers.RetryAfter);
    }

    [Theory]
    [InlineData(null)] // Triton's HTTP client sends no Content-Type
    [InlineData("application/octet-stream")] // its aiohttp client
    [InlineData("text/plain")]
    public async Task The_json_body_is_read_whatever_its_content_type(string? contentType)
    {
        var client = await factory.ReadyClientAsync();
        var body = JsonSerializer.Serialize(new { inputs = new[] { new { name = "input", shape = new[] { 1, 1, 16, 16 }, datatype = "FP32", data = new float[256] } } });
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null) content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        var response = await client.PostAsync("/v2/models/tiny/infer", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("logits", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("outputs")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task The_binary_data_extension_is_refused_with_a_clear_400()
    {
        var client = await factory.ReadyClientAsync();
        var content = Json("""{"inputs":[{"name":"input","shape":[1,1,16,16],"datatype":"FP32","parameters":{"binary_data_size":1024}}]}""");
        content.Headers.Add("Inference-Header-Content-Length", "90");
        Assert.Contains("binary tensor data", await AssertErrorAsync(await client.PostAsync("/v2/models/tiny/infer", content), HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task Framework_errors_on_v2_use_the_protocols_error_body()
    {
        var client = await factory.ReadyClientAsync();
        Assert.Contains("no endpoint", await AssertErrorAsync(await client.GetAsync("/v2/no/such/route"), HttpStatusCode.NotFound));
        await AssertErrorAsync(await client.DeleteAsync("/v2/models/tiny/infer"), HttpStatusCode.MethodNotAllowed);
    }
}
