using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using RffService.TestSupport;
using RffService.Vision.Imaging;
using SkiaSharp;

namespace RffService.Api.Tests;

/// <summary>
/// /detect against the tiny detectors of <see cref="TestModelRepository"/>: a cell of the 4 x 4 input grid is "bright"
/// when its mean is above one half, and its detection box is exactly the cell, so every expected box is known.
/// </summary>
public class DetectEndpointTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    /// <summary>A black PNG with white squares (x, y, side).</summary>
    private static byte[] Squares(int width, int height, params (int X, int Y, int Side)[] squares)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Black);
            using var white = new SKPaint { Color = SKColors.White };
            foreach (var (x, y, side) in squares) canvas.DrawRect(x, y, side, side, white);
        }
        return TestImages.Encode(bitmap, SKEncodedImageFormat.Png);
    }

    private static ByteArrayContent Png(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    private static List<JsonElement> Detections(JsonElement result) => result.GetProperty("detections").EnumerateArray().ToList();

    private static void AssertBox(JsonElement detection, float x, float y, float width, float height)
    {
        var box = detection.GetProperty("box");
        Assert.Equal(x, box.GetProperty("x").GetSingle(), 1);
        Assert.Equal(y, box.GetProperty("y").GetSingle(), 1);
        Assert.Equal(width, box.GetProperty("width").GetSingle(), 1);
        Assert.Equal(height, box.GetProperty("height").GetSingle(), 1);
    }

    [Fact]
    public async Task Finds_a_square_with_its_box_in_original_pixels()
    {
        var client = await factory.ReadyClientAsync();
        var image = Squares(64, 64, (16, 32, 16));

        var response = await client.PostAsync("/detect?model=detector", Png(image));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("detector", result.GetProperty("model").GetString());
        Assert.Equal(1, result.GetProperty("version").GetInt32());
        Assert.Equal(ImageId.Of(image), result.GetProperty("imageId").GetString());
        Assert.Equal(64, result.GetProperty("width").GetInt32());
        Assert.Equal(64, result.GetProperty("height").GetInt32());
        Assert.False(result.TryGetProperty("overlay", out _));
        var detection = Assert.Single(Detections(result));
        Assert.Equal(TestModelRepository.BrightLabel, detection.GetProperty("label").GetString());
        Assert.Equal(0, detection.GetProperty("classIndex").GetInt32());
        Assert.True(detection.GetProperty("score").GetSingle() > 0.99f);
        AssertBox(detection, 16, 32, 16, 16);
        var normalized = detection.GetProperty("boxNormalized");
        Assert.Equal(0.25f, normalized.GetProperty("xMin").GetSingle(), 3);
        Assert.Equal(0.5f, normalized.GetProperty("yMin").GetSingle(), 3);
        Assert.Equal(0.5f, normalized.GetProperty("xMax").GetSingle(), 3);
        Assert.Equal(0.75f, normalized.GetProperty("yMax").GetSingle(), 3);
    }

    [Fact]
    public async Task The_default_detector_is_the_first_ready_detection_model()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/detect", Png(Squares(32, 32, (0, 0, 8))));
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("detector", result.GetProperty("model").GetString());
        AssertBox(Assert.Single(Detections(result)), 0, 0, 8, 8);
    }

    [Fact]
    public async Task Letterboxed_detections_map_back_through_the_padding()
    {
        var client = await factory.ReadyClientAsync();
        // 128 x 64 into 32 x 32: scale 1/4, 8 rows of padding above; the square fills input cell (2, 1).
        var response = await client.PostAsync("/detect?model=detector-letterbox", Png(Squares(128, 64, (64, 0, 32))));
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(128, result.GetProperty("width").GetInt32());
        AssertBox(Assert.Single(Detections(result)), 64, 0, 32, 32);
    }

    [Fact]
    public async Task Several_objects_best_first_and_the_limits_apply()
    {
        var client = await factory.ReadyClientAsync();
        var image = Squares(64, 64, (0, 0, 16), (48, 48, 16), (32, 0, 16));

        var all = Detections(await (await client.PostAsync("/detect?model=detector", Png(image))).Content.ReadFromJsonAsync<JsonElement>());
        Assert.Equal(3, all.Count);
        var scores = all.Select(d => d.GetProperty("score").GetSingle()).ToList();
        Assert.Equal(scores.OrderDescending(), scores);

        var one = Detections(await (await client.PostAsync("/detect?model=detector&maxDetections=1", Png(image))).Content.ReadFromJsonAsync<JsonElement>());
        Assert.Single(one);
        var none = Detections(await (await client.PostAsync("/detect?model=detector&scoreThreshold=1", Png(image))).Content.ReadFromJsonAsync<JsonElement>());
        Assert.Empty(none);
        var blank = Detections(await (await client.PostAsync("/detect?model=detector", Png(Squares(64, 64)))).Content.ReadFromJsonAsync<JsonElement>());
        Assert.Empty(blank);
    }

    [Theory]
    [InlineData("bright", 1)]
    [InlineData("BRIGHT", 1)]
    [InlineData("0", 1)]
    [InlineData("bright,0", 1)]
    public async Task Class_filter_by_label_or_index(string classes, int expected)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync($"/detect?model=detector&classes={classes}", Png(Squares(64, 64, (0, 0, 16))));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, Detections(await response.Content.ReadFromJsonAsync<JsonElement>()).Count);
    }

    [Fact]
    public async Task Decoded_layout_models_are_read_as_configured()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/detect?model=detector-decoded&classes=cat,dog", Png(Squares(64, 64)));
        var detections = Detections(await response.Content.ReadFromJsonAsync<JsonElement>());

        // (y_min, x_min, y_max, x_max) in input pixels of 32 x 32, labels counted from 1; the 0.2 score is below 0.3.
        Assert.Equal(2, detections.Count);
        Assert.Equal("cat", detections[0].GetProperty("label").GetString());
        AssertBox(detections[0], 8, 16, 16, 16);
        Assert.Equal("dog", detections[1].GetProperty("label").GetString());
        AssertBox(detections[1], 0, 0, 64, 64);
    }

    [Fact]
    public async Task Multipart_batch_and_json_forms()
    {
        var client = await factory.ReadyClientAsync();
        var first = Squares(32, 32, (0, 0, 8));
        var second = Squares(32, 32, (24, 24, 8), (0, 24, 8));
        var form = new MultipartFormDataContent { { Png(first), "image", "a.png" }, { Png(second), "image", "b.png" } };

        var batch = await (await client.PostAsync("/detect?model=detector", form)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Array, batch.ValueKind);
        var results = batch.EnumerateArray().ToList();
        Assert.Equal([1, 2], results.Select(r => Detections(r).Count));
        Assert.Equal(ImageId.Of(second), results[1].GetProperty("imageId").GetString());

        var json = await client.PostAsJsonAsync("/detect?model=detector", new { image = Convert.ToBase64String(second) });
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        Assert.Equal(2, Detections(await json.Content.ReadFromJsonAsync<JsonElement>()).Count);
    }

    [Fact]
    public async Task Overlay_is_a_png_of_the_image_enlarged_by_a_whole_factor_with_the_boxes_drawn()
    {
        var client = await factory.ReadyClientAsync();
        var image = Squares(96, 64, (24, 16, 24));
        var response = await client.PostAsync("/detect?model=detector&overlay=true", Png(image));
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var png = Convert.FromBase64String(result.GetProperty("overlay").GetString()!);

        using var overlay = SKBitmap.Decode(png);
        int zoom = Inference.Detection.DetectionOverlay.ZoomFor(96, 64);
        Assert.Equal(96 * zoom, overlay.Width);
        Assert.Equal(64 * zoom, overlay.Height);
        var colour = Inference.Detection.DetectionOverlay.ColourOf(0);
        int coloured = 0;
        for (int y = 0; y < overlay.Height; y++)
            for (int x = 0; x < overlay.Width; x++)
                if (overlay.GetPixel(x, y) == colour) coloured++;
        Assert.True(coloured > 24 * zoom * 2, $"only {coloured} pixels of the box colour");
        // Away from the box and its caption the image is unchanged.
        Assert.Equal(SKColors.Black, overlay.GetPixel(90 * zoom, 60 * zoom));
    }

    [Fact]
    public async Task Accept_image_png_answers_with_the_overlay_itself()
    {
        var client = await factory.ReadyClientAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/detect?model=detector") { Content = Png(Squares(96, 64, (24, 16, 24))) };
        request.Headers.Accept.ParseAdd("image/png");
        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType!.MediaType);
        using var overlay = SKBitmap.Decode(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(96 * Inference.Detection.DetectionOverlay.ZoomFor(96, 64), overlay.Width);
    }

    [Fact]
    public async Task A_detection_is_explained_by_index_and_its_map_peaks_inside_its_box()
    {
        var client = await factory.ReadyClientAsync();
        var image = Squares(64, 64, (16, 16, 16), (48, 32, 16)); // two bright cells of the 4x4 grid
        var detect = await (await client.PostAsync("/detect?model=detector", Png(image))).Content.ReadFromJsonAsync<JsonElement>();
        var detections = Detections(detect);
        Assert.Equal(2, detections.Count);
        string id = detect.GetProperty("imageId").GetString()!;

        for (int i = 0; i < detections.Count; i++)
        {
            var cam = await client.GetFromJsonAsync<JsonElement>($"/cam?imageId={id}&model=detector&detection={i}&faithfulness=false");
            Assert.Equal("layercam", cam.GetProperty("method").GetString());
            Assert.Equal(Inference.Explanations.CamRequest.DefaultDetectionGamma, cam.GetProperty("gamma").GetSingle());
            var explained = cam.GetProperty("detection").GetProperty("box");
            var box = detections[i].GetProperty("box");
            Assert.Equal(box.GetProperty("x").GetDouble(), explained.GetProperty("x").GetDouble(), 3);
            using var heatmap = SKBitmap.Decode(Convert.FromBase64String(cam.GetProperty("heatmap").GetString()!));
            var (px, py) = Brightest(heatmap);
            Assert.InRange(px, box.GetProperty("x").GetDouble() - 1, box.GetProperty("x").GetDouble() + box.GetProperty("width").GetDouble() + 1);
            Assert.InRange(py, box.GetProperty("y").GetDouble() - 1, box.GetProperty("y").GetDouble() + box.GetProperty("height").GetDouble() + 1);
        }

        // The same detection sent again with POST, and an index past the detections.
        var post = await client.PostAsync("/cam?model=detector&detection=1&faithfulness=false", Png(image));
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        var missing = await client.GetAsync($"/cam?imageId={id}&model=detector&detection=5");
        Assert.Contains("detection must be 0..1", await Problems.AssertProblemAsync(missing, HttpStatusCode.NotFound));
        // The id of a /detect answer without detection=: refused with the fix, not explained by the default classifier.
        var which = await client.GetAsync($"/cam?imageId={id}");
        Assert.Contains("add detection=", await Problems.AssertProblemAsync(which, HttpStatusCode.UnprocessableEntity));
    }

    [Fact]
    public async Task A_detector_that_decodes_in_its_graph_cannot_be_explained_and_says_why()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/cam?model=detector-decoded&detection=0", Png(Squares(64, 64, (8, 8, 12))));
        string detail = await Problems.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("cannot be explained", detail);
    }

    private static (int X, int Y) Brightest(SKBitmap map)
    {
        (int X, int Y) best = (0, 0);
        byte top = 0;
        for (int y = 0; y < map.Height; y++)
            for (int x = 0; x < map.Width; x++)
                if (map.GetPixel(x, y).Red > top) (top, best) = (map.GetPixel(x, y).Red, (x, y));
        return best;
    }

    [Fact]
    public async Task The_image_id_works_with_get_cam()
    {
        var client = await factory.ReadyClientAsync();
        var image = Squares(16, 16, (4, 4, 8));
        var detect = await (await client.PostAsync("/detect?model=detector", Png(image))).Content.ReadFromJsonAsync<JsonElement>();

        var cam = await client.GetAsync($"/cam?imageId={detect.GetProperty("imageId").GetString()}&model=tiny");

        Assert.Equal(HttpStatusCode.OK, cam.StatusCode);
    }

    [Theory]
    [InlineData("scoreThreshold=-0.1", HttpStatusCode.UnprocessableEntity, "scoreThreshold")]
    [InlineData("scoreThreshold=1.5", HttpStatusCode.UnprocessableEntity, "scoreThreshold")]
    [InlineData("scoreThreshold=NaN", HttpStatusCode.UnprocessableEntity, "scoreThreshold")]
    [InlineData("iouThreshold=2", HttpStatusCode.UnprocessableEntity, "iouThreshold")]
    [InlineData("iouThreshold=-1", HttpStatusCode.UnprocessableEntity, "iouThreshold")]
    [InlineData("maxDetections=0", HttpStatusCode.UnprocessableEntity, "maxDetections")]
    [InlineData("maxDetections=1001", HttpStatusCode.UnprocessableEntity, "maxDetections")]
    [InlineData("maxDetections=abc", HttpStatusCode.BadRequest, "maxDetections")]
    [InlineData("overlay=maybe", HttpStatusCode.BadRequest, "overlay")]
    [InlineData("classes=hat", HttpStatusCode.UnprocessableEntity, "hat")]
    [InlineData("classes=7", HttpStatusCode.UnprocessableEntity, "7")]
    [InlineData("model=nope", HttpStatusCode.NotFound, "nope")]
    [InlineData("model=..%2F..%2Fetc", HttpStatusCode.NotFound, "no model")]
    [InlineData("model=tiny", HttpStatusCode.UnprocessableEntity, "classification model")]
    [InlineData("model=broken", HttpStatusCode.ServiceUnavailable, "failed to load")]
    public async Task Invalid_parameters_are_problem_details(string query, HttpStatusCode status, string mention)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync($"/detect?{(query.StartsWith("model=") ? "" : "model=detector&")}{query}", Png(Squares(32, 32, (0, 0, 8))));
        string detail = await Problems.AssertProblemAsync(response, status);
        Assert.Contains(mention, detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Bad_images_are_problem_details()
    {
        var client = await factory.ReadyClientAsync();
        await Problems.AssertProblemAsync(await client.PostAsync("/detect", Png("not a png"u8.ToArray())), HttpStatusCode.BadRequest);
        await Problems.AssertProblemAsync(await client.PostAsync("/detect", Png([])), HttpStatusCode.BadRequest);
        var text = new StringContent("hello", System.Text.Encoding.UTF8, "text/plain");
        await Problems.AssertProblemAsync(await client.PostAsync("/detect", text), HttpStatusCode.UnsupportedMediaType);
        await Problems.AssertProblemAsync(await client.PostAsync("/detect", Png(TestImages.PngDeclaring(100_000, 100_000))), HttpStatusCode.RequestEntityTooLarge);
    }
}
