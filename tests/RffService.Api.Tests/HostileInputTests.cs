using System.Net.Http.Headers;
using System.Net;
using System.Text.Json;
using System.Text;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>
/// Bad input on every inference endpoint: a corpus of known-bad requests, and thousands of randomly mutated images.
/// Every answer must be a valid result or a 4xx problem: never a 500, never a hang.
/// </summary>
public class HostileInputTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static readonly HttpStatusCode[] ClientErrors =
        [HttpStatusCode.BadRequest, HttpStatusCode.NotFound, HttpStatusCode.RequestEntityTooLarge, HttpStatusCode.UnsupportedMediaType, HttpStatusCode.UnprocessableEntity];

    private static ByteArrayContent Body(byte[] bytes, string type = "image/png")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        return content;
    }

    /// <summary>A 200 must be a JSON result; anything else a 4xx problem+json.</summary>
    private static async Task AssertHandledAsync(HttpResponseMessage response, string what)
    {
        string body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode == HttpStatusCode.OK)
        {
            using var json = JsonDocument.Parse(body);
            Assert.True(json.RootElement.ValueKind is JsonValueKind.Object or JsonValueKind.Array, what);
            return;
        }
        Assert.True(ClientErrors.Contains(response.StatusCode), $"{what}: {(int)response.StatusCode} {body}");
        if (response.RequestMessage!.RequestUri!.AbsolutePath.StartsWith("/v2/"))
            Assert.True(JsonDocument.Parse(body).RootElement.TryGetProperty("error", out _), $"{what}: {body}"); // the protocol's error body
        else
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    public static TheoryData<string, string, string, HttpStatusCode?> Corpus() => new()
    {
        // what, path, body kind, expected status (null: any handled answer)
        { "zero-byte body", "/classify?model=tiny", "empty", HttpStatusCode.BadRequest },
        { "text declared as an image", "/classify?model=tiny", "text-as-png", HttpStatusCode.BadRequest },
        { "wrong content type", "/classify?model=tiny", "png-as-text", HttpStatusCode.UnsupportedMediaType },
        { "JPEG bytes declared PNG (sniffed)", "/classify?model=tiny", "jpeg-as-png", HttpStatusCode.OK },
        { "PNG declaring 100,000 x 100,000", "/classify?model=tiny", "bomb", HttpStatusCode.RequestEntityTooLarge },
        { "GIF with 10,000 frames", "/classify?model=tiny", "gif-frames", HttpStatusCode.OK },
        { "animated GIF", "/detect?model=detector", "gif-animated", HttpStatusCode.OK },
        { "1x1 image", "/classify?model=tiny-rgb", "1x1", HttpStatusCode.OK },
        { "1 x 4000 image", "/detect?model=detector-letterbox", "thin", HttpStatusCode.OK },
        { "4000 x 1 image", "/classify?model=tiny", "wide", HttpStatusCode.OK },
        { "16-bit PNG", "/classify?model=tiny", "png16", HttpStatusCode.OK },
        { "palette PNG", "/detect?model=detector", "png-palette", HttpStatusCode.OK },
        { "multipart without boundary", "/classify?model=tiny", "multipart-no-boundary", HttpStatusCode.BadRequest },
        { "multipart with 50 parts", "/classify?model=tiny", "multipart-many", HttpStatusCode.RequestEntityTooLarge },
        { "multipart with only a text part", "/detect?model=detector", "multipart-text", HttpStatusCode.BadRequest },
        { "invalid base64", "/classify?model=tiny", "json-bad-base64", HttpStatusCode.BadRequest },
        { "JSON with a number for the image", "/classify?model=tiny", "json-number", HttpStatusCode.BadRequest },
        { "JSON array of objects", "/detect?model=detector", "json-objects", HttpStatusCode.BadRequest },
        { "truncated JSON", "/classify?model=tiny", "json-truncated", HttpStatusCode.BadRequest },
        { "topK negative", "/classify?model=tiny&topK=-3", "png", HttpStatusCode.UnprocessableEntity },
        { "topK NaN", "/classify?model=tiny&topK=NaN", "png", HttpStatusCode.BadRequest },
        { "topK huge", "/classify?model=tiny&topK=99999999999999", "png", HttpStatusCode.BadRequest },
        { "scoreThreshold Infinity", "/detect?model=detector&scoreThreshold=Infinity", "png", HttpStatusCode.UnprocessableEntity },
        { "very long model name", "/classify?model=" + new string('m', 5000), "png", HttpStatusCode.NotFound },
        { "model name with ../", "/classify?model=..%2F..%2F..%2Fetc%2Fpasswd", "png", HttpStatusCode.NotFound },
        { "model name with ../ on cam", "/cam?model=..%2Fbroken", "png", HttpStatusCode.NotFound },
        { "cam with an unknown method", "/cam?model=tiny&method=%00%01", "png", HttpStatusCode.UnprocessableEntity },
        { "v2 model name with ../", "/v2/models/..%2F..%2Ftiny/infer", "json-v2", HttpStatusCode.NotFound },
    };

    private static HttpContent Make(string kind) => kind switch
    {
        "empty" => Body([]),
        "text-as-png" => Body("hello, I am not an image"u8.ToArray()),
        "png-as-text" => Body(TestImages.Png(), "text/plain"),
        "jpeg-as-png" => Body(TestImages.Jpeg(20, 20)),
        "bomb" => Body(TestImages.PngDeclaring(100_000, 100_000)),
        "gif-frames" => Body(HostileImages.AnimatedGif(10_000), "image/gif"),
        "gif-animated" => Body(HostileImages.AnimatedGif(2), "image/gif"),
        "1x1" => Body(TestImages.Png(1, 1)),
        "thin" => Body(TestImages.Png(1, 4000)),
        "wide" => Body(TestImages.Png(4000, 1)),
        "png16" => Body(TestImages.PngRaw(9, 7, sixteenBitGray: true)),
        "png-palette" => Body(TestImages.PngRaw(9, 7, sixteenBitGray: false)),
        "png" => Body(TestImages.Png(16, 16)),
        "multipart-no-boundary" => new ByteArrayContent("--x\r\n\r\n"u8.ToArray()) { Headers = { ContentType = MediaTypeHeaderValue.Parse("multipart/form-data") } },
        "multipart-many" => ManyParts(50),
        "multipart-text" => new MultipartFormDataContent { { new StringContent("not an image"), "note" } },
        "json-bad-base64" => new StringContent("{\"image\": \"@@@not base64@@@\"}", Encoding.UTF8, "application/json"),
        "json-number" => new StringContent("{\"image\": 5}", Encoding.UTF8, "application/json"),
        "json-objects" => new StringContent("{\"images\": [{\"a\": 1}]}", Encoding.UTF8, "application/json"),
        "json-truncated" => new StringContent("{\"image\": \"iVBOR", Encoding.UTF8, "application/json"),
        "json-v2" => new StringContent("{\"inputs\":[]}", Encoding.UTF8, "application/json"),
        _ => throw new ArgumentException(kind),
    };

    private static MultipartFormDataContent ManyParts(int count)
    {
        var form = new MultipartFormDataContent();
        for (int i = 0; i < count; i++) form.Add(new ByteArrayContent(TestImages.Gif()), "image", $"{i}.gif");
        return form;
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Known_bad_inputs_get_clear_answers(string what, string path, string kind, HttpStatusCode? expected)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync(path, Make(kind));
        await AssertHandledAsync(response, what);
        if (expected is { } status) Assert.True(status == response.StatusCode, $"{what}: expected {(int)status}, got {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    [Theory]
    [InlineData(1, "/classify?model=tiny")]
    [InlineData(2, "/detect?model=detector")]
    [InlineData(3, "/cam?model=tiny&method=gradcam&faithfulness=false")]
    public async Task Thousands_of_mutated_images_never_cause_a_server_error(int seed, string path)
    {
        var client = await factory.ReadyClientAsync();
        var random = new Random(seed);
        var seeds = HostileImages.Seeds();
        string[] types = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "application/octet-stream"];
        int cases = 0, ok = 0;
        var started = DateTime.UtcNow;
        foreach (var original in seeds)
            for (int i = 0; i < 200; i++)
            {
                var mutated = HostileImages.Mutate(original, seeds, random);
                var response = await client.PostAsync(path, Body(mutated, types[random.Next(types.Length)]));
                await AssertHandledAsync(response, $"seed {seed} case {cases} ({mutated.Length} bytes)");
                if (response.StatusCode == HttpStatusCode.OK) ok++;
                cases++;
            }
        for (int i = 0; i < 100; i++)
        {
            var noise = new byte[random.Next(0, 2000)];
            random.NextBytes(noise);
            await AssertHandledAsync(await client.PostAsync(path, Body(noise, types[random.Next(types.Length)])), $"random bytes {i}");
            cases++;
        }
        Assert.Equal(1300, cases);
        Assert.True(ok > 0, "no mutated image decoded at all: the mutations are too destructive to test the decoder");
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromMinutes(2), "the mutated inputs took too long: something hangs");
        // The service still answers normally, and nothing of the corpus was an unexpected error.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(path, Body(TestImages.Png(16, 16)))).StatusCode);
        Assert.Matches(new System.Text.RegularExpressions.Regex(@"^rff_unhandled_exceptions_total\{surface=""http""\} 0$", System.Text.RegularExpressions.RegexOptions.Multiline),
            await client.GetStringAsync("/metrics"));
    }
}
