using RffService.Inference.Common;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Onnx.Explanations;
using RffService.Onnx;
using RffService.TestSupport;
using RffService.Vision.Configuration;
using RffService.Vision.Imaging;
using RffService.Vision;
using SkiaSharp;

namespace RffService.Inference.Tests;

public class CamTests : IDisposable
{
    /// <summary>Two RffConv layers with average pooling, global average pooling and a linear readout: CAM is exact on rff2.</summary>
    private static RffCnnSpec GapSpec()
    {
        var random = new Random(31);
        var layers = new[]
        {
            RffLayerSpec.Random(1, 6, 3, sigma: 1.5f, poolSize: 2, random, pool: PoolMode.Average),
            RffLayerSpec.Random(6, 8, 3, sigma: 2f, poolSize: 1, random, pool: PoolMode.Average),
        };
        var readout = Enumerable.Range(0, 3 * 8).Select(_ => (float)RffLayerSpec.Gaussian(random) * 3f).ToArray();
        return new RffCnnSpec(1, 16, 16, layers, readout, [0.1f, -0.1f, 0f]);
    }

    private readonly TestModelRepository _models = new TestModelRepository()
        .AddModel("gap", GapSpec(), TestModelRepository.TinyConfig());

    private static (CamContext Context, ModelRuntime Model) Context(TestServices services, int layerIndex, int target, int seed = 1)
    {
        var runtime = services.Model("gap").Runtime!;
        var explainer = Assert.IsType<Explainer>(runtime.Explainer);
        var random = new Random(seed);
        var input = Enumerable.Range(0, 256).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        var layer = explainer.Layers[layerIndex];
        var outputs = runtime.Session.Run(input, [1, 1, 16, 16], [layer.Output]);
        var (activations, shape) = outputs[layer.Output];
        return (new CamContext(explainer, runtime.Session, layer, input, [1, 1, 16, 16], activations, shape.Select(d => (int)d).ToArray(), target), runtime);
    }

    [Fact]
    public async Task Cam_equals_the_readout_weighted_sum_of_the_last_feature_maps()
    {
        await using var services = TestServices.Load(_models.Root);
        var (context, _) = Context(services, layerIndex: 1, target: 2);
        var spec = GapSpec();

        var map = new Cam().Compute(context);

        // Independently: Σ_k w_ck F_k / (h w), with F from the managed forward pass of the spec.
        var random = new Random(1);
        var input = Enumerable.Range(0, 256).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        var (features, channels, height, width) = RffCnnManagedForward.LastFeatureMap(spec, input, 1);
        Assert.Equal((8, 8, 8), (channels, height, width));
        for (int p = 0; p < height * width; p++)
        {
            double expected = 0;
            for (int k = 0; k < channels; k++) expected += spec.ReadoutWeights[2 * 8 + k] * features[k * 64 + p] / 64.0;
            Assert.Equal(expected, map.Values[p], 1e-5);
        }
        // Exactness: the map sums to the class score minus the bias.
        var logits = RffCnnManagedForward.Logits(spec, input, 1);
        Assert.Equal(logits[2] - spec.ReadoutBias[2], map.Values.Sum(), 1e-4);
    }

    [Fact]
    public async Task With_a_blank_baseline_cam_decomposes_the_score_difference_and_flat_regions_are_zero()
    {
        await using var services = TestServices.Load(_models.Root);
        var runtime = services.Model("gap").Runtime!;
        var explainer = runtime.Explainer!;
        var layer = explainer.Layers[1];
        // A flat image (-1 everywhere) with a bright 6x6 square in one corner.
        var input = Enumerable.Repeat(-1f, 256).ToArray();
        for (int y = 1; y < 7; y++) for (int x = 1; x < 7; x++) input[y * 16 + x] = 1.5f;
        var spec = new InputSpec(16, 16, 1, [0.5f], [0.25f], Letterbox: false);
        var blank = CamService.BlankLike(input, spec);
        Assert.All(blank, v => Assert.Equal(-1f, v));

        var (activations, shape) = runtime.Session.Run(input, [1, 1, 16, 16], [layer.Output])[layer.Output];
        var reference = runtime.Session.Run(blank, [1, 1, 16, 16], [layer.Output])[layer.Output].Values;
        var context = new CamContext(explainer, runtime.Session, layer, input, [1, 1, 16, 16], activations, shape.Select(d => (int)d).ToArray(), 0, reference);
        var map = new Cam().Compute(context);

        var logits = RffCnnManagedForward.Logits(GapSpec(), input, 1);
        var blankLogits = RffCnnManagedForward.Logits(GapSpec(), blank, 1);
        Assert.Equal(logits[0] - blankLogits[0], map.Values.Sum(), 1e-4);
        // Far from the square (beyond the receptive field), the image is flat like the blank: the map is 0 there.
        Assert.Equal(0f, map.Values[7 * 8 + 7], 1e-5f);
        Assert.NotEqual(0f, map.Values[1 * 8 + 1]);
    }

    [Fact]
    public async Task GradCam_on_the_last_layer_of_a_gap_linear_model_is_cam_up_to_a_positive_factor()
    {
        await using var services = TestServices.Load(_models.Root);
        var (context, _) = Context(services, layerIndex: 1, target: 0);
        var cam = new Cam().Compute(context).Values.Select(v => Math.Max(v, 0f)).ToArray();
        var gradCam = new GradCam().Compute(context).Values;

        Assert.Contains(cam, v => v > 0);
        int reference = Array.IndexOf(cam, cam.Max());
        float factor = gradCam[reference] / cam[reference];
        Assert.True(factor > 0);
        for (int p = 0; p < cam.Length; p++) Assert.Equal(cam[p] * factor, gradCam[p], 1e-5f);
    }

    [Fact]
    public async Task Cam_is_refused_on_a_layer_followed_by_a_nonlinear_layer()
    {
        await using var services = TestServices.Load(_models.Root);
        var (context, _) = Context(services, layerIndex: 0, target: 0);
        var ex = Assert.Throws<InferenceException>(() => new Cam().Compute(context));
        Assert.Equal(ErrorKind.InvalidParameter, ex.Kind);
        Assert.All(CamMethod.All.Values.Where(m => m is not Cam), m => Assert.Equal(context.Plane, m.Compute(context).Values.Length));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Batched_score_and_ablation_weights_equal_one_at_a_time(int layerIndex)
    {
        await using var services = TestServices.Load(_models.Root);
        var (context, _) = Context(services, layerIndex, target: 1);

        Assert.Equal(ScoreCam.ChannelScores(context, 1), ScoreCam.ChannelScores(context, 64), new FloatTolerance(1e-5f));
        Assert.Equal(AblationCam.ChannelScores(context, 1), AblationCam.ChannelScores(context, 64), new FloatTolerance(1e-4f));

        // Ablation reference by hand: zero channel 0 and re-run the managed network from the layer.
        var ablated = (float[])context.Activations.Clone();
        Array.Clear(ablated, 0, context.Plane);
        var net = context.Model.Network;
        float Score(float[] a) => net.Forward(new Tensor(a, context.ActivationShape), context.OpIndex + 1).Output.Data[1];
        float original = Score(context.Activations);
        Assert.Equal((original - Score(ablated)) / original, AblationCam.ChannelScores(context, 8)[0], 1e-3f);
    }

    [Theory]
    [InlineData("jet", 0x00, 0x00, 0x7F, 0x7F, 0x00, 0x00)]
    [InlineData("viridis", 0x44, 0x01, 0x54, 0xFD, 0xE7, 0x25)]
    [InlineData("inferno", 0x00, 0x00, 0x04, 0xFC, 0xFF, 0xA4)]
    [InlineData("gray", 0, 0, 0, 255, 255, 255)]
    public void Colormaps_map_0_and_1_to_their_documented_end_colours(string name, int r0, int g0, int b0, int r1, int g1, int b1)
    {
        var map = Colormap.ByName[name];
        Assert.Equal(((byte)r0, (byte)g0, (byte)b0), map.Map(0f));
        Assert.Equal(((byte)r1, (byte)g1, (byte)b1), map.Map(1f));
        Assert.Equal(map.Map(0f), map.Map(-3f));
        Assert.Equal(map.Map(1f), map.Map(2f));
        Assert.Equal(map.Map(0f), map.Map(float.NaN));
    }

    [Fact]
    public void Overlay_and_heatmap_decode_at_the_original_size_and_follow_the_map()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(40, 30, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(SKColors.Black);
        using var image = new DecodedImage(bitmap.Copy(), "png");
        var spec = new InputSpec(16, 16, 1, [0f], [1f], Letterbox: true);
        var transform = ImagePreprocessor.Transform(40, 30, spec);
        var heat = new float[16 * 16];
        for (int y = 0; y < 16; y++) for (int x = 8; x < 16; x++) heat[y * 16 + x] = 1; // the right half is hot

        var (overlay, heatmap, _) = OverlayRenderer.Render(image, new Heatmap(heat, 16, 16), transform, Colormap.Gray, alpha: 1f);

        using var overlayBitmap = SKBitmap.Decode(overlay);
        using var heatmapBitmap = SKBitmap.Decode(heatmap);
        Assert.Equal((40, 30), (overlayBitmap.Width, overlayBitmap.Height));
        Assert.Equal((40, 30), (heatmapBitmap.Width, heatmapBitmap.Height));
        Assert.True(heatmapBitmap.GetPixel(35, 15).Red > 200);
        Assert.True(heatmapBitmap.GetPixel(4, 15).Red < 30);
        Assert.True(overlayBitmap.GetPixel(35, 15).Red > 200);
    }

    [Fact]
    public void Image_cache_honours_count_bytes_and_time_to_live()
    {
        var clock = new ManualClock();
        var cache = new ImageCache(Microsoft.Extensions.Options.Options.Create(new ImageCacheOptions
        {
            MaxEntries = 3,
            MaxBytes = 100,
            TimeToLive = TimeSpan.FromMinutes(1),
        }), clock);

        foreach (var id in new[] { "a", "b", "c", "d" }) cache.Add(id, new byte[10]);
        Assert.Equal(3, cache.Count);
        Assert.Null(cache.Get("a")); // least recently used went first
        Assert.NotNull(cache.Get("b")); // b is now the most recently used

        cache.Add("big", new byte[85]); // 10 + 10 + 10 + 85 > 100: evicts c and d, keeps b
        Assert.True(cache.Bytes <= 100);
        Assert.NotNull(cache.Get("big"));
        Assert.Null(cache.Get("c"));
        cache.Add("huge", new byte[101]); // larger than the whole cache: never kept
        Assert.Null(cache.Get("huge"));

        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(cache.Get("big"));
        Assert.Null(cache.Get("b"));
        Assert.Equal((0, 0L), (cache.Count, cache.Bytes));
    }

    public void Dispose() => _models.Dispose();

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(y));
        public int GetHashCode(float obj) => 0;
    }
}
