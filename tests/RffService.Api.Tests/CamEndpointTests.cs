using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using RffService.TestSupport;
using SkiaSharp;

namespace RffService.Api.Tests;

public class CamEndpointTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static ByteArrayContent Png(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    private static (int Width, int Height) PngSize(string base64)
    {
        using var bitmap = SKBitmap.Decode(Convert.FromBase64String(base64));
        return (bitmap.Width, bitmap.Height);
    }

    [Fact]
    public async Task Get_cam_explains_an_image_classified_earlier_with_every_method()
    {
        var client = await factory.ReadyClientAsync();
        var image = TestImages.Png(40, 30, gray: true);
        var classified = await (await client.PostAsync("/classify?model=tiny", Png(image))).Content.ReadFromJsonAsync<JsonElement>();
        string imageId = classified.GetProperty("imageId").GetString()!;
        int top = classified.GetProperty("predictions")[0].GetProperty("index").GetInt32();

        foreach (var method in new[] { "gradcam", "gradcampp", "layercam", "scorecam", "ablationcam" })
        {
            var response = await client.GetAsync($"/cam?imageId={imageId}&model=tiny&method={method}&colormap=viridis&alpha=0.3");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal((imageId, method, "rff2"), (json.GetProperty("imageId").GetString(), json.GetProperty("method").GetString(), json.GetProperty("layer").GetString()));
            Assert.Equal(top, json.GetProperty("target").GetProperty("index").GetInt32());
            // The overlay, for people, enlarged (short side under Inference:CamOverlayMinimumSide, 256); the heatmap at the image's size.
            int zoom = Vision.Imaging.DisplayZoom.For(40, 30, 256);
            Assert.Equal(9, zoom);
            Assert.Equal((40 * zoom, 30 * zoom), PngSize(json.GetProperty("overlay").GetString()!));
            Assert.Equal((40, 30), PngSize(json.GetProperty("heatmap").GetString()!));
            // The scores' values are checked against hand-worked cases in FaithfulnessTests; here, that each method gets them.
            var faithfulness = json.GetProperty("faithfulness");
            foreach (var score in new[] { "averageDrop", "increaseInConfidence", "deletionAuc" })
                Assert.Equal(JsonValueKind.Number, faithfulness.GetProperty(score).ValueKind);
        }
    }

    [Fact]
    public async Task Post_cam_takes_the_image_and_honours_target_and_layer()
    {
        var client = await factory.ReadyClientAsync();
        var image = TestImages.Jpeg(24, 24);
        var byLabel = await client.PostAsync("/cam?model=tiny-rgb&target=square&layer=0&method=layercam", Png(image));
        Assert.Equal(HttpStatusCode.OK, byLabel.StatusCode);
        var json = await byLabel.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("square", 1, "rff1"), (json.GetProperty("target").GetProperty("label").GetString(),
            json.GetProperty("target").GetProperty("index").GetInt32(), json.GetProperty("layer").GetString()));

        var byIndex = await client.PostAsJsonAsync("/cam?model=tiny-rgb&target=2&layer=rff2&baseline=none", new { image = Convert.ToBase64String(image) });
        var second = await byIndex.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("triangle", "rff2", "gradcam"), (second.GetProperty("target").GetProperty("label").GetString(),
            second.GetProperty("layer").GetString(), second.GetProperty("method").GetString()));
    }

    [Fact]
    public async Task Gamma_sets_the_maps_contrast_in_the_heatmap_and_is_echoed()
    {
        var client = await factory.ReadyClientAsync();
        var image = TestImages.Png(40, 30, gray: true);
        async Task<(JsonElement Json, byte[] Gray)> Explain(string gamma)
        {
            var response = await client.PostAsync($"/cam?model=tiny&method=layercam{gamma}", Png(image));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            using var bitmap = SKBitmap.Decode(Convert.FromBase64String(json.GetProperty("heatmap").GetString()!));
            return (json, Enumerable.Range(0, bitmap.Width * bitmap.Height).Select(i => bitmap.GetPixel(i % bitmap.Width, i / bitmap.Width).Red).ToArray());
        }
        var (plain, one) = await Explain("");
        var (narrow, squared) = await Explain("&gamma=2");
        Assert.Equal(1f, plain.GetProperty("gamma").GetSingle());
        Assert.Equal(2f, narrow.GetProperty("gamma").GetSingle());
        // Each heatmap pixel v/255 becomes (v/255)^2, within the PNG's rounding; a map with mid-range values (not a test that holds for 0s and 1s only).
        Assert.Contains(one, v => v is > 60 and < 200);
        for (int i = 0; i < one.Length; i++)
            Assert.InRange(squared[i], Math.Pow(Math.Max(one[i] - 0.5, 0) / 255, 2) * 255 - 1, Math.Pow(Math.Min(one[i] + 0.5, 255) / 255, 2) * 255 + 1);
    }

    [Fact]
    public async Task Accept_image_png_returns_the_overlay_itself()
    {
        var client = await factory.ReadyClientAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/cam?model=tiny") { Content = Png(TestImages.Png(33, 21)) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("image/png"));
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        using var bitmap = SKBitmap.Decode(await response.Content.ReadAsByteArrayAsync());
        int zoom = Vision.Imaging.DisplayZoom.For(33, 21, 256); // enlarged for people, as the JSON answer's overlay
        Assert.Equal((33 * zoom, 21 * zoom), (bitmap.Width, bitmap.Height));
    }

    public static TheoryData<string, HttpStatusCode, string> Errors() => new()
    {
        { "/cam?imageId=0123456789abcdef0123456789abcdef", HttpStatusCode.NotFound, "send the image again" },
        { "/cam", HttpStatusCode.BadRequest, "imageId" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public async Task Get_cam_errors(string url, HttpStatusCode status, string detailPart)
    {
        var client = await factory.ReadyClientAsync();
        string detail = await Problems.AssertProblemAsync(await client.GetAsync(url), status);
        Assert.Contains(detailPart, detail, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("method=magic", HttpStatusCode.UnprocessableEntity, "method must be one of")]
    [InlineData("colormap=rainbow", HttpStatusCode.UnprocessableEntity, "colormap")]
    [InlineData("baseline=zero", HttpStatusCode.UnprocessableEntity, "baseline")]
    [InlineData("alpha=1.5", HttpStatusCode.UnprocessableEntity, "alpha")]
    [InlineData("alpha=-0.1", HttpStatusCode.UnprocessableEntity, "alpha")]
    [InlineData("alpha=NaN", HttpStatusCode.UnprocessableEntity, "alpha")]
    [InlineData("alpha=abc", HttpStatusCode.BadRequest, "alpha")]
    [InlineData("gamma=0", HttpStatusCode.UnprocessableEntity, "gamma")]
    [InlineData("gamma=-1", HttpStatusCode.UnprocessableEntity, "gamma")]
    [InlineData("gamma=11", HttpStatusCode.UnprocessableEntity, "gamma")]
    [InlineData("gamma=NaN", HttpStatusCode.UnprocessableEntity, "gamma")]
    [InlineData("gamma=Infinity", HttpStatusCode.UnprocessableEntity, "gamma")]
    [InlineData("gamma=x", HttpStatusCode.BadRequest, "gamma")]
    [InlineData("target=giraffe", HttpStatusCode.UnprocessableEntity, "target")]
    [InlineData("target=7", HttpStatusCode.UnprocessableEntity, "target")]
    [InlineData("layer=rff9", HttpStatusCode.UnprocessableEntity, "layer")]
    [InlineData("layer=-1", HttpStatusCode.UnprocessableEntity, "layer")]
    [InlineData("method=cam&layer=rff1", HttpStatusCode.UnprocessableEntity, "cam")]
    [InlineData("model=detector", HttpStatusCode.UnprocessableEntity, "detection")]
    [InlineData("model=..%2Fsecret", HttpStatusCode.NotFound, "no model")]
    public async Task Post_cam_parameter_errors(string query, HttpStatusCode status, string detailPart)
    {
        var client = await factory.ReadyClientAsync();
        string url = query.StartsWith("model=", StringComparison.Ordinal) ? $"/cam?{query}" : $"/cam?model=tiny&{query}";
        var response = await client.PostAsync(url, Png(TestImages.Png()));
        string detail = await Problems.AssertProblemAsync(response, status);
        Assert.Contains(detailPart, detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Post_cam_refuses_a_batch_and_bad_images()
    {
        var client = await factory.ReadyClientAsync();
        var batch = new MultipartFormDataContent
        {
            { Png(TestImages.Png()), "image", "a.png" },
            { Png(TestImages.Png()), "image", "b.png" },
        };
        await Problems.AssertProblemAsync(await client.PostAsync("/cam?model=tiny", batch), HttpStatusCode.UnprocessableEntity);
        await Problems.AssertProblemAsync(await client.PostAsync("/cam?model=tiny", Png("nope"u8.ToArray())), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Models_list_the_cam_layers_and_swagger_documents_cam()
    {
        var client = await factory.ReadyClientAsync();
        var doc = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
        var get = doc.GetProperty("paths").GetProperty("/cam").GetProperty("get");
        var names = get.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "imageId", "model", "target", "method", "layer", "alpha", "colormap", "baseline" }, names);
        Assert.True(doc.GetProperty("paths").GetProperty("/cam").TryGetProperty("post", out _));
    }
}
