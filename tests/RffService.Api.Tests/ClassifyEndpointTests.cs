using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using RffService.TestSupport;
using RffService.Vision.Imaging;

namespace RffService.Api.Tests;

public class ClassifyEndpointTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static ByteArrayContent Raw(byte[] bytes, string type)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        return content;
    }

    private static MultipartFormDataContent Multipart(params (byte[] Bytes, string Type)[] files)
    {
        var form = new MultipartFormDataContent();
        for (int i = 0; i < files.Length; i++)
            form.Add(Raw(files[i].Bytes, files[i].Type), "image", $"image{i}.bin");
        return form;
    }

    private static void AssertClassification(JsonElement result, string model, byte[] image, int topK)
    {
        Assert.Equal(model, result.GetProperty("model").GetString());
        Assert.Equal(1, result.GetProperty("version").GetInt32());
        Assert.Equal(ImageId.Of(image), result.GetProperty("imageId").GetString());
        Assert.Contains(result.GetProperty("executionProvider").GetString(), new[] { "CPUExecutionProvider", "CUDAExecutionProvider" }); // the factory says auto
        var predictions = result.GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(topK, predictions.Count);
        var probabilities = predictions.Select(p => p.GetProperty("probability").GetSingle()).ToList();
        Assert.Equal(probabilities.OrderDescending(), probabilities);
        foreach (var p in predictions)
            Assert.Equal(TestModelRepository.Labels[p.GetProperty("index").GetInt32()], p.GetProperty("label").GetString());
        var timings = result.GetProperty("timings");
        Assert.True(timings.GetProperty("totalMs").GetDouble() >= timings.GetProperty("inferenceMs").GetDouble());
    }

    [Fact]
    public async Task Multipart_single_image()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png(16, 16, gray: true);
        var response = await client.PostAsync("/classify?topK=2", Multipart((png, "image/png")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertClassification(await response.Content.ReadFromJsonAsync<JsonElement>(), "tiny", png, 2);
    }

    [Fact]
    public async Task Multipart_several_files_make_a_batch_in_order()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png(20, 20);
        var jpeg = TestImages.Jpeg(33, 21);
        var response = await client.PostAsync("/classify?model=tiny-rgb&topK=3", Multipart((png, "image/png"), (jpeg, "image/jpeg")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        AssertClassification(results[0], "tiny-rgb", png, 3);
        AssertClassification(results[1], "tiny-rgb", jpeg, 3);
    }

    [Theory]
    [InlineData("image/png")]
    [InlineData("image/jpeg")]
    [InlineData("application/octet-stream")]
    public async Task Raw_image_bodies(string contentType)
    {
        var client = await factory.ReadyClientAsync();
        var bytes = contentType == "image/jpeg" ? TestImages.Jpeg(40, 30) : TestImages.Png(40, 30);
        var response = await client.PostAsync("/classify", Raw(bytes, contentType));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertClassification(await response.Content.ReadFromJsonAsync<JsonElement>(), "tiny", bytes, 3);
    }

    [Fact]
    public async Task Json_base64_single_batch_and_data_url()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png();
        var jpeg = TestImages.Jpeg();

        var single = await client.PostAsJsonAsync("/classify?topK=1", new { image = Convert.ToBase64String(png) });
        AssertClassification(await single.Content.ReadFromJsonAsync<JsonElement>(), "tiny", png, 1);

        var batch = await client.PostAsJsonAsync("/classify?topK=1", new { images = new[] { Convert.ToBase64String(png), Convert.ToBase64String(jpeg) } });
        var results = (await batch.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().ToList();
        AssertClassification(results[0], "tiny", png, 1);
        AssertClassification(results[1], "tiny", jpeg, 1);

        var dataUrl = await client.PostAsJsonAsync("/classify?topK=1", new { image = "data:image/png;base64," + Convert.ToBase64String(png) });
        AssertClassification(await dataUrl.Content.ReadFromJsonAsync<JsonElement>(), "tiny", png, 1);
    }

    [Fact]
    public async Task The_same_image_gives_the_same_answer_in_every_input_form()
    {
        var client = await factory.ReadyClientAsync();
        var png = TestImages.Png(16, 16);
        var answers = new List<string>();
        foreach (HttpContent content in new HttpContent[] { Multipart((png, "image/png")), Raw(png, "image/png"),
                     JsonContent.Create(new { image = Convert.ToBase64String(png) }) })
        {
            var json = await (await client.PostAsync("/classify", content)).Content.ReadFromJsonAsync<JsonElement>();
            answers.Add(json.GetProperty("predictions").GetRawText());
        }
        Assert.Single(answers.Distinct());
    }

    public static TheoryData<string, Func<HttpContent>, HttpStatusCode, string> ErrorCases() => new()
    {
        { "/classify?model=nope", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.NotFound, "no model named 'nope'" },
        { "/classify?model=..%2F..%2Fetc%2Fpasswd", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.NotFound, "no model named" },
        { "/classify?model=broken", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.ServiceUnavailable, "failed to load" },
        { "/classify?model=detector", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.UnprocessableEntity, "detection model" },
        { "/classify?topK=0", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.UnprocessableEntity, "topK" },
        { "/classify?topK=-5", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.UnprocessableEntity, "topK" },
        { "/classify?topK=abc", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.BadRequest, "The parameter 'topK' must be a whole number; 'abc' is not." },
        { "/classify?topK=99999999999999", () => Raw(TestImages.Png(), "image/png"), HttpStatusCode.BadRequest, "'topK' must be a whole number" },
        { "/classify", () => Raw(TestImages.Png(), "text/plain"), HttpStatusCode.UnsupportedMediaType, "text/plain" },
        { "/classify", () => new ByteArrayContent(TestImages.Png()), HttpStatusCode.UnsupportedMediaType, "(none)" },
        { "/classify", () => Raw([], "image/png"), HttpStatusCode.BadRequest, "empty" },
        { "/classify", () => Raw("not an image at all"u8.ToArray(), "image/png"), HttpStatusCode.BadRequest, "not a readable" },
        { "/classify", () => Raw(TestImages.Png(64, 64)[..200], "image/png"), HttpStatusCode.BadRequest, "truncated" },
        { "/classify", () => Raw(TestImages.PngDeclaring(100_000, 100_000), "image/png"), HttpStatusCode.RequestEntityTooLarge, "pixels" },
        { "/classify", () => Raw(TestImages.Png(1001, 1000), "image/png"), HttpStatusCode.RequestEntityTooLarge, "pixels" },
        { "/classify", () => Raw(new byte[ServiceFactory.MaxRequestBytes + 1], "image/png"), HttpStatusCode.RequestEntityTooLarge, "exceeds" },
        { "/classify", () => Multipart(Enumerable.Repeat((TestImages.Png(), "image/png"), 5).ToArray()), HttpStatusCode.RequestEntityTooLarge, "5 images" },
        { "/classify", () => Multipart(Enumerable.Repeat((TestImages.Png(), "image/png"), 9).ToArray()), HttpStatusCode.RequestEntityTooLarge, "parts" },
        { "/classify", () => Raw("--x\r\n\r\n--x--"u8.ToArray(), "multipart/form-data"), HttpStatusCode.BadRequest, "boundary" },
        { "/classify", () => Raw("garbage without parts"u8.ToArray(), "multipart/form-data; boundary=abc"), HttpStatusCode.BadRequest, "multipart" },
        { "/classify", () => new MultipartFormDataContent { { new StringContent("hello"), "note" } }, HttpStatusCode.BadRequest, "field named 'image'" },
        { "/classify", () => Raw("{\"image\": \"***not base64***\"}"u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "base64" },
        { "/classify", () => Raw("{\"image\": 42}"u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "must be a base64 string" },
        { "/classify", () => Raw("{\"images\": \"x\"}"u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "array" },
        { "/classify", () => Raw("{\"images\": []}"u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "empty" },
        { "/classify", () => Raw("[1, 2]"u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "must be an object" },
        { "/classify", () => Raw("{\"picture\": \"\"}"u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "neither" },
        { "/classify", () => Raw("{\"image\": "u8.ToArray(), "application/json"), HttpStatusCode.BadRequest, "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(ErrorCases))]
    public async Task Errors_are_problem_details_with_the_right_status(string url, Func<HttpContent> content, HttpStatusCode status, string detailPart)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync(url, content());
        string detail = await Problems.AssertProblemAsync(response, status);
        Assert.Contains(detailPart, detail, StringComparison.OrdinalIgnoreCase);
        // A model that failed to load stays failed until its files change: no Retry-After invites a pointless retry.
        if (status == HttpStatusCode.ServiceUnavailable) Assert.Null(response.Headers.RetryAfter);
    }

    [Theory]
    [InlineData("/classify?topK=abc")]
    [InlineData("/classify?topK=3")]
    public async Task Json_answers_and_problems_end_with_a_newline(string url)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync(url, Raw(TestImages.Png(), "image/png"));
        string body = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("}\n", body);
        Assert.DoesNotContain("Nullable", body);
        if (url.Contains("abc")) Assert.Contains("The parameter 'topK' must be a whole number; 'abc' is not.", body); // case as in the query
    }

    [Fact]
    public async Task A_declared_content_length_over_the_limit_is_refused_before_reading()
    {
        var client = await factory.ReadyClientAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/classify") { Content = Raw(TestImages.Png(), "image/png") };
        request.Content.Headers.ContentLength = ServiceFactory.MaxRequestBytes + 10;
        // The in-memory test server trusts the header; the reader must refuse on it alone.
        var response = await client.SendAsync(request);
        await Problems.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Problem_details_are_returned_even_when_the_client_accepts_only_images()
    {
        var client = await factory.ReadyClientAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/classify?model=nope") { Content = Raw(TestImages.Png(), "image/png") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("image/png"));
        await Problems.AssertProblemAsync(await client.SendAsync(request), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Unknown_routes_are_problem_details_too()
    {
        var client = await factory.ReadyClientAsync();
        await Problems.AssertProblemAsync(await client.GetAsync("/no/such/thing"), HttpStatusCode.NotFound);
        // A wrong method names the ones allowed, in the detail and the Allow header.
        string detail = await Problems.AssertProblemAsync(await client.GetAsync("/classify"), HttpStatusCode.MethodNotAllowed);
        Assert.Contains("accepts POST", detail);
        Assert.Equal(["POST"], (await client.DeleteAsync("/classify")).Content.Headers.Allow);
    }
}
