using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Models;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>ablate= on /classify, /detect and /cam: every form of the query, the answer's fields, and clear problems for bad specs.</summary>
public class InterventionEndpointTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static ByteArrayContent Png(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    private static readonly byte[] Image = TestImages.Png(40, 30, gray: true);

    private async Task<(HttpResponseMessage Response, JsonElement Json)> PostAsync(string path, string ablate, byte[]? image = null)
    {
        var client = await factory.ReadyClientAsync();
        string separator = path.Contains('?') ? "&" : "?";
        var response = await client.PostAsync($"{path}{separator}ablate={Uri.EscapeDataString(ablate)}", Png(image ?? Image));
        var json = response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadFromJsonAsync<JsonElement>() : default;
        return (response, json);
    }

    private static int[] Channels(JsonElement applied) => applied.GetProperty("channels").EnumerateArray().Select(c => c.GetInt32()).ToArray();

    [Fact]
    public async Task Listed_channels_are_switched_off_and_the_answer_says_what_changed()
    {
        var (response, json) = await PostAsync("/classify?model=tiny&topK=3", "rff2:1,5");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var applied = json.GetProperty("intervention").GetProperty("applied").EnumerateArray().Single();
        Assert.Equal("rff2", applied.GetProperty("layer").GetString());
        Assert.Equal([1, 5], Channels(applied));
        Assert.Equal("zero", applied.GetProperty("value").GetString());
        Assert.Equal(applied.GetProperty("cellsInLayer").GetInt32(), applied.GetProperty("cells").GetInt32());

        // original = what /classify answers without ablate; changes = intervened - original for every class.
        var plain = await (await (await factory.ReadyClientAsync()).PostAsync("/classify?model=tiny&topK=3", Png(Image))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(plain.GetProperty("predictions").ToString(), json.GetProperty("original").ToString());
        var changes = json.GetProperty("changes").EnumerateArray().ToList();
        Assert.Equal(TestModelRepository.Labels.Length, changes.Count);
        foreach (var prediction in json.GetProperty("predictions").EnumerateArray())
        {
            var change = changes[prediction.GetProperty("index").GetInt32()];
            Assert.Equal(prediction.GetProperty("probability").GetSingle(), change.GetProperty("intervened").GetSingle());
            Assert.Equal(change.GetProperty("intervened").GetSingle() - change.GetProperty("original").GetSingle(), change.GetProperty("change").GetSingle(), 1e-6f);
        }
        Assert.Contains(changes, c => Math.Abs(c.GetProperty("change").GetSingle()) > 1e-4f);
    }

    [Fact]
    public async Task All_channels_of_the_last_layer_leave_every_image_with_the_same_answer()
    {
        // With every activation of the layer the scores are computed from set to zero, the image no longer matters.
        var (first, a) = await PostAsync("/classify?model=tiny&topK=3", "rff2:all");
        var (second, b) = await PostAsync("/classify?model=tiny&topK=3", "rff2:all", TestImages.Png(16, 16));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode));
        Assert.Equal(a.GetProperty("predictions").ToString(), b.GetProperty("predictions").ToString());
        Assert.NotEqual(a.GetProperty("original").ToString(), b.GetProperty("original").ToString());
        Assert.Equal(8, Channels(a.GetProperty("intervention").GetProperty("applied")[0]).Length);
    }

    [Fact]
    public async Task Top_k_switches_off_the_channels_that_add_most_to_the_top_class()
    {
        var (response, json) = await PostAsync("/classify?model=tiny&topK=3", "rff2:top3");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var chosen = Channels(json.GetProperty("intervention").GetProperty("applied")[0]);
        Assert.Equal(3, chosen.Length);

        // The ranking recomputed here from the explanation graph's activations and gradients of the top class.
        var runtime = factory.Services.GetRequiredService<ModelRepository>().Find("tiny")!.Runtime!;
        var explainer = runtime.Explanations.Explainer!;
        var layer = explainer.Layers.Single(l => l.Name == "rff2");
        using var image = factory.Services.GetRequiredService<RffService.Inference.Pipeline.ImagePipeline>().Prepare(Image, runtime, keepDecoded: false);
        var run = explainer.RunForTopScore(image.Tensor, [1, 1, 16, 16], [layer]);
        var (a, g, _) = run.Layers[layer.Tensor];
        int plane = (int)(layer.Height * layer.Width);
        var expected = Enumerable.Range(0, (int)layer.Channels)
            .OrderByDescending(k => Enumerable.Range(0, plane).Sum(p => Math.Max(g[k * plane + p], 0f) * (double)a[k * plane + p]))
            .Take(3).Order().ToArray();
        Assert.Equal(expected, chosen);
    }

    [Fact]
    public async Task A_region_switches_off_only_the_cells_whose_centres_lie_in_it()
    {
        // The 40x30 image is stretched onto 16x16; rff2's map is 8x8, so each cell is 5 x 3.75 image pixels.
        var (response, json) = await PostAsync("/classify?model=tiny", "rff2:all@0,0,20,15");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var applied = json.GetProperty("intervention").GetProperty("applied")[0];
        Assert.Equal((16, 64), (applied.GetProperty("cells").GetInt32(), applied.GetProperty("cellsInLayer").GetInt32()));

        var (thin, thinJson) = await PostAsync("/classify?model=tiny", "rff2:0@0,0,5.1,3");
        Assert.Equal(HttpStatusCode.OK, thin.StatusCode);
        Assert.Equal(1, thinJson.GetProperty("intervention").GetProperty("applied")[0].GetProperty("cells").GetInt32());
    }

    [Fact]
    public async Task Blank_values_and_several_interventions_apply_together()
    {
        var (response, json) = await PostAsync("/classify?model=tiny&topK=3", "rff1:all@0,0,20,30=blank; rff2:2,3");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var applied = json.GetProperty("intervention").GetProperty("applied").EnumerateArray().ToList();
        Assert.Equal(["rff1", "rff2"], applied.Select(a => a.GetProperty("layer").GetString()));
        Assert.Equal(["blank", "zero"], applied.Select(a => a.GetProperty("value").GetString()));
        var (single, singleJson) = await PostAsync("/classify?model=tiny&topK=3", "rff2:2,3");
        Assert.Equal(HttpStatusCode.OK, single.StatusCode);
        Assert.NotEqual(singleJson.GetProperty("predictions").ToString(), json.GetProperty("predictions").ToString());

        // A blank image's own activations switched to the blank's: nothing changes.
        var blank = TestImages.Encode(Uniform(40, 30, 90), SkiaSharp.SKEncodedImageFormat.Png);
        var (same, sameJson) = await PostAsync("/classify?model=tiny&topK=3", "rff1:all=blank", blank);
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        Assert.All(sameJson.GetProperty("changes").EnumerateArray(), c => Assert.True(Math.Abs(c.GetProperty("change").GetSingle()) < 1e-5f, c.ToString()));
    }

    [Fact]
    public async Task Cam_with_ablate_explains_the_intervened_network()
    {
        var (classified, classifiedJson) = await PostAsync("/classify?model=tiny&topK=1", "rff2:top4");
        var (explained, camJson) = await PostAsync("/cam?model=tiny&layer=rff1&method=gradcam", "rff2:top4");
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (classified.StatusCode, explained.StatusCode));
        // /cam's explanation graph and /classify's side-by-side graph are derived separately; both run the intervened network.
        var top = classifiedJson.GetProperty("predictions")[0];
        Assert.Equal(top.GetProperty("index").GetInt32(), camJson.GetProperty("target").GetProperty("index").GetInt32());
        Assert.Equal(top.GetProperty("probability").GetSingle(), camJson.GetProperty("target").GetProperty("probability").GetSingle(), 1e-5f);
        Assert.Equal(Channels(classifiedJson.GetProperty("intervention").GetProperty("applied")[0]),
            Channels(camJson.GetProperty("intervention").GetProperty("applied")[0]));

        // Switched off everywhere, the layer cuts the earlier one off from the score: its gradient map is empty.
        var (cut, cutJson) = await PostAsync("/cam?model=tiny&layer=rff1&method=gradcam&faithfulness=false", "rff2:all");
        Assert.Equal(HttpStatusCode.OK, cut.StatusCode);
        using var heatmap = SkiaSharp.SKBitmap.Decode(Convert.FromBase64String(cutJson.GetProperty("heatmap").GetString()!));
        Assert.All(heatmap.Pixels, p => Assert.Equal(0, p.Red));
    }

    [Fact]
    public async Task Detections_with_ablate_report_what_appeared_vanished_or_changed()
    {
        var client = await factory.ReadyClientAsync();
        var image = TestImages.Png(64, 64);
        var plain = await (await client.PostAsync("/detect?model=detector&scoreThreshold=0.05", Png(image))).Content.ReadFromJsonAsync<JsonElement>();
        var (response, json) = await PostAsync("/detect?model=detector&scoreThreshold=0.05", "0:all", image);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(plain.GetProperty("detections").ToString(), json.GetProperty("original").ToString());
        var changes = json.GetProperty("changes");
        int after = json.GetProperty("detections").GetArrayLength(), before = json.GetProperty("original").GetArrayLength();
        int changed = changes.GetProperty("changed").GetArrayLength();
        // Every original detection either vanished or changed; every new one appeared or changed.
        Assert.Equal(before, changed + changes.GetProperty("vanished").GetArrayLength());
        Assert.Equal(after, changed + changes.GetProperty("appeared").GetArrayLength());
        Assert.NotEqual(json.GetProperty("original").ToString(), json.GetProperty("detections").ToString());
    }

    public static TheoryData<string, string, HttpStatusCode, string> BadSpecs() => new()
    {
        { "/classify?model=tiny", "nope:all", HttpStatusCode.UnprocessableEntity, "rff1" },
        { "/classify?model=tiny", "99:all", HttpStatusCode.UnprocessableEntity, "index 0.." },
        { "/classify?model=tiny", "rff2:8", HttpStatusCode.UnprocessableEntity, "8 channels (0..7)" },
        { "/classify?model=tiny", "rff2:all@500,500,10,10", HttpStatusCode.UnprocessableEntity, "outside the 40x30 image" },
        { "/classify?model=tiny", "rff2:all@1,1,0.5,0.5", HttpStatusCode.UnprocessableEntity, "none of layer 'rff2'" },
        { "/classify?model=tiny", "rff2", HttpStatusCode.BadRequest, "<layer>:" },
        { "/classify?model=tiny", "rff2:", HttpStatusCode.BadRequest, "top<K>" },
        { "/classify?model=tiny", "rff2:top", HttpStatusCode.BadRequest, "top5" },
        { "/classify?model=tiny", "rff2:1,x", HttpStatusCode.BadRequest, "channel indices" },
        { "/classify?model=tiny", "rff2:all@1,2,3", HttpStatusCode.BadRequest, "four numbers" },
        { "/classify?model=tiny", "rff2:all@1,2,-3,4", HttpStatusCode.BadRequest, "positive" },
        { "/classify?model=tiny", "rff2:all=one", HttpStatusCode.BadRequest, "blank" },
        { "/detect?model=detector", "nope:all", HttpStatusCode.UnprocessableEntity, "ablate must name a layer" },
        { "/cam?model=tiny", "rff2:-1", HttpStatusCode.BadRequest, "channel indices" },
        { "/detect?model=detector-decoded", "0:all", HttpStatusCode.UnprocessableEntity, "decoded" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public async Task Bad_specs_are_clear_problems(string path, string ablate, HttpStatusCode status, string mentions)
    {
        var (response, _) = await PostAsync(path, ablate);
        string detail = await Problems.AssertProblemAsync(response, status);
        Assert.Contains(mentions, detail);
    }

    [Fact]
    public async Task Too_many_interventions_are_refused()
    {
        var (response, _) = await PostAsync("/classify?model=tiny", string.Join(";", Enumerable.Repeat("rff2:0", 17)));
        Assert.Contains("at most 16", await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest));
    }

    private static SkiaSharp.SKBitmap Uniform(int width, int height, byte gray)
    {
        var bitmap = new SkiaSharp.SKBitmap(width, height);
        bitmap.Erase(new SkiaSharp.SKColor(gray, gray, gray));
        return bitmap;
    }
}
