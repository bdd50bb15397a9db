using RffService.Inference.Common;
using RffService.Inference.Explanations;
using RffService.Onnx;
using RffService.Onnx.Explanations;
using RffService.TestSupport;
using RffService.Vision;
using RffService.Vision.Imaging;
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

    private static readonly InputSpec Spec = new(16, 16, 1, [0.5f], [0.25f], Letterbox: false);

    private static float[] RandomInput(int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, 256).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
    }

    /// <summary>The context of one explanation of <paramref name="target"/> at the model's <paramref name="rffLayer"/>-th RFF layer.</summary>
    private static CamContext Context(TestServices services, int rffLayer, int target, float[] input, bool blank = false, int? channelLimit = null)
    {
        var runtime = services.Model("gap").Runtime!;
        var explainer = Assert.IsType<Explainer>(runtime.Explanations.Explainer);
        var layer = explainer.Layers.Where(l => l.Kind == "rff").ElementAt(rffLayer);
        var classTarget = new ClassTarget(target, 3, probabilities: false);
        var run = explainer.Run(input, [1, 1, 16, 16], classTarget.Weights(explainer.ScoreShape), [1, .. explainer.ScoreShape], [layer]);
        var (activations, gradients, shape) = run.Layers[layer.Tensor];
        var blankInput = blank ? CamService.BlankLike(input, Spec) : null;
        var reference = blankInput is null ? null : explainer.Activations(blankInput, [1, 1, 16, 16], [layer])[0];
        return new CamContext(layer, input, [1, 1, 16, 16], activations, gradients, shape.Select(d => (int)d).ToArray(), reference, blankInput,
            new QueuedCamRunner(runtime, explainer, classTarget, Spec, input), channelLimit);
    }

    [Fact]
    public async Task Cam_equals_the_readout_weighted_sum_of_the_last_feature_maps()
    {
        await using var services = TestServices.Load(_models.Root);
        var input = RandomInput(1);
        var context = Context(services, rffLayer: 1, target: 2, input);
        var spec = GapSpec();

        var map = await new Cam().ComputeAsync(context, default);

        // Independently: Σ_k w_ck F_k / (h w), with F from the managed forward pass of the spec.
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
        // A flat image (-1 everywhere) with a bright 6x6 square in one corner.
        var input = Enumerable.Repeat(-1f, 256).ToArray();
        for (int y = 1; y < 7; y++) for (int x = 1; x < 7; x++) input[y * 16 + x] = 1.5f;
        var context = Context(services, rffLayer: 1, target: 0, input, blank: true);
        Assert.All(context.BlankInput!, v => Assert.Equal(-1f, v));

        var map = await new Cam().ComputeAsync(context, default);

        var logits = RffCnnManagedForward.Logits(GapSpec(), input, 1);
        var blankLogits = RffCnnManagedForward.Logits(GapSpec(), context.BlankInput!, 1);
        Assert.Equal(logits[0] - blankLogits[0], map.Values.Sum(), 1e-4);
        // Far from the square (beyond the receptive field), the image is flat like the blank: the map is 0 there.
        Assert.Equal(0f, map.Values[7 * 8 + 7], 1e-5f);
        Assert.NotEqual(0f, map.Values[1 * 8 + 1]);
    }

    [Fact]
    public async Task GradCam_and_LayerCam_on_the_last_layer_of_a_gap_linear_model_follow_the_readout()
    {
        await using var services = TestServices.Load(_models.Root);
        var input = RandomInput(2);
        var context = Context(services, rffLayer: 1, target: 0, input);
        var spec = GapSpec();
        var (features, channels, _, _) = RffCnnManagedForward.LastFeatureMap(spec, input, 1);

        var gradCam = (await new GradCam().ComputeAsync(context, default)).Values;
        var layerCam = (await new LayerCam().ComputeAsync(context, default)).Values;

        // The gradient at every position of channel k is w_0k / 64: Grad-CAM is ReLU(Σ_k w_0k / 64 F_k), Layer-CAM keeps the positive w_0k only.
        for (int p = 0; p < 64; p++)
        {
            double all = 0, positive = 0;
            for (int k = 0; k < channels; k++)
            {
                double w = spec.ReadoutWeights[k] / 64.0;
                all += w * features[k * 64 + p];
                positive += Math.Max(w, 0) * features[k * 64 + p];
            }
            Assert.Equal(Math.Max(all, 0), gradCam[p], 1e-5);
            Assert.Equal(Math.Max(positive, 0), layerCam[p], 1e-5);
        }
    }

    [Fact]
    public async Task Cam_is_refused_on_a_layer_followed_by_a_nonlinear_layer_and_the_other_methods_answer()
    {
        await using var services = TestServices.Load(_models.Root);
        var context = Context(services, rffLayer: 0, target: 0, RandomInput(3), blank: true, channelLimit: 4);
        var ex = await Assert.ThrowsAsync<InferenceException>(() => new Cam().ComputeAsync(context, default));
        Assert.Equal(ErrorKind.InvalidParameter, ex.Kind);
        foreach (var method in CamMethod.All.Values.Where(m => m is not Cam))
        {
            var map = await method.ComputeAsync(context, default);
            Assert.Equal(context.Plane, map.Values.Length);
            Assert.All(map.Values, v => Assert.True(float.IsFinite(v) && v >= 0));
        }
    }

    [Fact]
    public async Task Ablation_weights_on_the_last_layer_are_the_readout_share_of_each_channel()
    {
        await using var services = TestServices.Load(_models.Root);
        var input = RandomInput(4);
        var context = Context(services, rffLayer: 1, target: 1, input);
        var spec = GapSpec();
        var (features, channels, _, _) = RffCnnManagedForward.LastFeatureMap(spec, input, 1);
        float score = RffCnnManagedForward.Logits(spec, input, 1)[1];

        var weights = await new AblationCam().ChannelWeightsAsync(context, default);

        // Switching channel k off removes w_1k mean(F_k) from the score: (y - y_k) / y = w_1k mean(F_k) / y.
        for (int k = 0; k < channels; k++)
            Assert.Equal(spec.ReadoutWeights[8 + k] * features.AsSpan(k * 64, 64).ToArray().Average() / score, weights[k], 1e-3);
    }

    [Fact]
    public async Task Score_cam_scores_the_chosen_channels_masked_inputs_with_the_model()
    {
        await using var services = TestServices.Load(_models.Root);
        var input = RandomInput(5);
        var context = Context(services, rffLayer: 0, target: 2, input, blank: true, channelLimit: 3);
        var chosen = context.ScoredChannels();
        Assert.Equal(3, chosen.Length);
        // The chosen channels are those with the largest sum of ReLU(G_k) A_k.
        var contribution = Enumerable.Range(0, context.Channels)
            .Select(k => context.GradientChannel(k).ToArray().Zip(context.Channel(k).ToArray(), (g, a) => Math.Max(g, 0f) * (double)a).Sum()).ToArray();
        Assert.Equal(Enumerable.Range(0, context.Channels).OrderByDescending(k => contribution[k]).Take(3).Order(), chosen);

        var map = await new ScoreCam().ComputeAsync(context, default);

        // Independently: each chosen channel (16x16, the input's size) min-max normalised masks the input towards the
        // blank; the managed forward pass scores it; softmax over the chosen channels weights the maps.
        var spec = GapSpec();
        var probabilities = chosen.Select(k =>
        {
            var channel = context.Channel(k).ToArray();
            float min = channel.Min(), max = channel.Max();
            var masked = input.Select((v, p) => context.BlankInput![p] + (v - context.BlankInput[p]) * (max > min ? (channel[p] - min) / (max - min) : 0)).ToArray();
            var logits = RffCnnManagedForward.Logits(spec, masked, 1);
            var e = logits.Select(l => Math.Exp(l - logits.Max())).ToArray();
            return e[2] / e.Sum();
        }).ToArray();
        var weights = probabilities.Select(p => Math.Exp(p - probabilities.Max())).ToArray();
        double total = weights.Sum();
        for (int p = 0; p < context.Plane; p++)
        {
            double expected = 0;
            for (int j = 0; j < chosen.Length; j++) expected += weights[j] / total * context.Channel(chosen[j])[p];
            Assert.Equal(Math.Max(expected, 0), map.Values[p], 1e-4);
        }
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

    /// <summary>A black 40x30 image, its letterbox transform to a 16x16 input, and a map whose right half is hot.</summary>
    private static (DecodedImage Image, ResizeTransform Transform, Heatmap Map) BlackImageWithTheRightHalfHot()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(40, 30, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(SKColors.Black);
        var transform = ImagePreprocessor.Transform(40, 30, new InputSpec(16, 16, 1, [0f], [1f], Letterbox: true));
        var heat = new float[16 * 16];
        for (int y = 0; y < 16; y++) for (int x = 8; x < 16; x++) heat[y * 16 + x] = 1;
        return (new DecodedImage(bitmap.Copy(), "png"), transform, new Heatmap(heat, 16, 16));
    }

    [Fact]
    public void Overlay_and_heatmap_decode_at_the_original_size_and_follow_the_map()
    {
        var (image, transform, map) = BlackImageWithTheRightHalfHot();
        using var owned = image;

        var (overlay, heatmap, _) = OverlayRenderer.Render(image, map, transform, Colormap.Gray, alpha: 1f);

        using var overlayBitmap = SKBitmap.Decode(overlay);
        using var heatmapBitmap = SKBitmap.Decode(heatmap);
        Assert.Equal((40, 30), (overlayBitmap.Width, overlayBitmap.Height));
        Assert.Equal((40, 30), (heatmapBitmap.Width, heatmapBitmap.Height));
        Assert.True(heatmapBitmap.GetPixel(35, 15).Red > 200);
        Assert.True(heatmapBitmap.GetPixel(4, 15).Red < 30);
        Assert.True(overlayBitmap.GetPixel(35, 15).Red > 200);
    }

    [Fact]
    public void A_small_images_overlay_is_drawn_enlarged_with_crisp_pixels_and_the_box_scaled_while_the_heatmap_keeps_its_size()
    {
        var (image, transform, map) = BlackImageWithTheRightHalfHot();
        using var owned = image;
        var box = new Vision.Detection.Box(2, 2, 10, 10);

        var (overlay, heatmap, _) = OverlayRenderer.Render(image, map, transform, Colormap.Gray, alpha: 1f, box, overlayMinimumSide: 256);
        var (plain, _, _) = OverlayRenderer.Render(image, map, transform, Colormap.Gray, alpha: 1f, box);

        using var enlarged = SKBitmap.Decode(overlay);
        using var original = SKBitmap.Decode(plain);
        using var heatmapBitmap = SKBitmap.Decode(heatmap);
        Assert.Equal((360, 270), (enlarged.Width, enlarged.Height)); // 9 x 40 by 9 x 30: a short side of at least 256
        Assert.Equal((40, 30), (heatmapBitmap.Width, heatmapBitmap.Height));
        // Away from the box, every enlarged pixel is its original pixel (nearest neighbour, no blur between them).
        for (int y = 0; y < 270; y++)
            for (int x = 0; x < 360; x++)
                if (x / 9 > 12 || y / 9 > 12) Assert.Equal(original.GetPixel(x / 9, y / 9), enlarged.GetPixel(x, y));
        // The box's outline is drawn where the box is, at the enlarged scale.
        Assert.Equal(SKColors.White, enlarged.GetPixel(2 * 9, 6 * 9));
        Assert.NotEqual(SKColors.White, enlarged.GetPixel(6 * 9, 6 * 9));
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
