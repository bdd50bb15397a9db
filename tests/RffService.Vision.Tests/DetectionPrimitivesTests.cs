using RffService.Vision.Configuration;
using RffService.Vision.Detection;
using RffService.Vision.Imaging;

namespace RffService.Vision.Tests;

public class DetectionPrimitivesTests
{
    private static readonly PriorConfig ThreeMaps = new()
    {
        MinScale = 0.15f,
        MaxScale = 0.55f,
        FeatureMaps =
        [
            new FeatureMapConfig { Width = 16, Height = 16, AspectRatios = [2f] },
            new FeatureMapConfig { Width = 8, Height = 8, AspectRatios = [2f, 3f] },
            new FeatureMapConfig { Width = 4, Height = 2, AspectRatios = [] },
        ],
    };

    [Fact]
    public void Priors_have_the_recipe_count_order_and_scales()
    {
        var priors = PriorGenerator.Generate(ThreeMaps);

        int expected = 16 * 16 * 4 + 8 * 8 * 6 + 4 * 2 * 2;
        Assert.Equal(expected, priors.Length / 4);
        Assert.Equal(expected, PriorGenerator.Count(ThreeMaps));
        for (int p = 0; p < expected; p++)
        {
            Assert.InRange(priors[p * 4], 0f, 1f);
            Assert.InRange(priors[p * 4 + 1], 0f, 1f);
            Assert.True(priors[p * 4 + 2] > 0 && priors[p * 4 + 3] > 0);
        }
        // First map, first cell: centre (1/32, 1/32); a square of s = 0.15, the extra square sqrt(0.15 * 0.35), then 2:1 and 1:2.
        Assert.Equal([1 / 32f, 1 / 32f, 0.15f, 0.15f], priors[..4], new Tolerance(1e-6f));
        Assert.Equal(MathF.Sqrt(0.15f * 0.35f), priors[6], 5);
        Assert.Equal(0.15f * MathF.Sqrt(2), priors[10], 5);
        Assert.Equal(0.15f / MathF.Sqrt(2), priors[11], 5);
        Assert.Equal(priors[10], priors[15], 5);
        // Second cell of the first map is one column to the right.
        Assert.Equal(1.5f / 16, priors[16], 5);
        // The last map (scale 0.55, extrapolated next 0.75) holds 4 x 2 cells of two squares.
        int last = (16 * 16 * 4 + 8 * 8 * 6) * 4;
        Assert.Equal(0.55f, priors[last + 2], 5);
        Assert.Equal(MathF.Sqrt(0.55f * 0.75f), priors[last + 6], 5);
        Assert.Equal(0.25f, priors[last + 1], 5); // first row of a 2-row map
    }

    [Fact]
    public void Clipped_priors_stay_inside_the_image_and_explicit_priors_are_taken_as_given()
    {
        var clipped = PriorGenerator.Generate(ThreeMaps with { Clip = true });
        for (int p = 0; p < clipped.Length / 4; p++)
        {
            var box = Box.FromCentre(clipped[p * 4], clipped[p * 4 + 1], clipped[p * 4 + 2], clipped[p * 4 + 3]);
            Assert.InRange(box.XMin, -1e-6f, 1f);
            Assert.InRange(box.XMax, 0f, 1 + 1e-6f);
        }

        var explicitPriors = PriorGenerator.Generate(new PriorConfig { Boxes = [[0.5f, 0.5f, 1f, 1f], [0.25f, 0.75f, 0.1f, 0.2f]] });
        Assert.Equal([0.5f, 0.5f, 1f, 1f, 0.25f, 0.75f, 0.1f, 0.2f], explicitPriors);
        Assert.Throws<ArgumentException>(() => PriorGenerator.Generate(new PriorConfig { Boxes = [[0.5f, 0.5f, 1f]] }));
    }

    [Fact]
    public void Encoding_then_decoding_gives_the_box_back()
    {
        var coder = new BoxCoder([0.1f, 0.1f, 0.2f, 0.2f]);
        var random = new Random(3);
        var offsets = new float[4];
        for (int i = 0; i < 1000; i++)
        {
            float[] prior = [random.NextSingle(), random.NextSingle(), 0.05f + random.NextSingle(), 0.05f + random.NextSingle()];
            var box = Box.FromCentre(random.NextSingle(), random.NextSingle(), 0.01f + random.NextSingle(), 0.01f + random.NextSingle());
            coder.Encode(box, prior, offsets);
            var decoded = coder.Decode(offsets, prior);
            Assert.Equal(box.XMin, decoded.XMin, 4);
            Assert.Equal(box.YMin, decoded.YMin, 4);
            Assert.Equal(box.XMax, decoded.XMax, 4);
            Assert.Equal(box.YMax, decoded.YMax, 4);
        }
        // Zero offsets are the prior itself; the variances scale the offsets.
        Assert.Equal(Box.FromCentre(0.5f, 0.5f, 0.2f, 0.4f), coder.Decode([0, 0, 0, 0], [0.5f, 0.5f, 0.2f, 0.4f]));
        var shifted = coder.Decode([1, 0, 0, 0], [0.5f, 0.5f, 0.2f, 0.4f]);
        Assert.Equal(0.5f + 0.1f * 0.2f, (shifted.XMin + shifted.XMax) / 2, 5);
        // Absurd size offsets are clamped, not infinite.
        var huge = coder.Decode([0, 0, 1e9f, 1e9f], [0.5f, 0.5f, 0.2f, 0.4f]);
        Assert.True(float.IsFinite(huge.Width) && float.IsFinite(huge.Height));
    }

    [Theory]
    [InlineData(0, 0, 1, 1, 0, 0, 1, 1, 1f)]              // identical
    [InlineData(0, 0, 1, 1, 2, 2, 3, 3, 0f)]              // disjoint
    [InlineData(0, 0, 1, 1, 1, 0, 2, 1, 0f)]              // touching edges
    [InlineData(0, 0, 2, 2, 0, 0, 1, 1, 0.25f)]           // contained
    [InlineData(0, 0, 2, 1, 1, 0, 3, 1, 1 / 3f)]          // half overlap
    [InlineData(0, 0, 0, 0, 0, 0, 0, 0, 0f)]              // zero-area boxes
    [InlineData(0.5, 0.5, 0.5, 0.5, 0, 0, 1, 1, 0f)]      // a point inside a box
    [InlineData(1, 1, 0, 0, 0, 0, 1, 1, 0f)]              // inverted box
    public void IoU_edge_cases(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1, float by1, float expected)
    {
        var a = new Box(ax0, ay0, ax1, ay1);
        var b = new Box(bx0, by0, bx1, by1);
        Assert.Equal(expected, Box.IoU(a, b), 6);
        Assert.Equal(expected, Box.IoU(b, a), 6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Nms_agrees_with_a_brute_force_reference(int seed)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = random.Next(0, 80);
            var boxes = new List<Box>();
            var scores = new float[n];
            for (int i = 0; i < n; i++)
            {
                float x = random.NextSingle() * 10, y = random.NextSingle() * 10;
                // Some zero-area boxes and many duplicated scores (ties).
                float w = random.Next(8) == 0 ? 0 : random.NextSingle() * 5, h = random.NextSingle() * 5;
                boxes.Add(new Box(x, y, x + w, y + h));
                scores[i] = random.Next(4) == 0 ? 0.5f : MathF.Round(random.NextSingle(), 1);
            }
            float threshold = new[] { 0f, 0.3f, 0.5f, 0.9f }[trial % 4];
            int maxKept = trial % 3 == 0 ? 5 : int.MaxValue;

            var kept = NonMaxSuppression.Apply(boxes, scores, threshold, maxKept);

            Assert.Equal(BruteForce(boxes, scores, threshold, maxKept), kept);
        }
    }

    /// <summary>Greedy NMS written the obvious way: best remaining (ties: lower index), drop what it overlaps.</summary>
    private static List<int> BruteForce(List<Box> boxes, float[] scores, float threshold, int maxKept)
    {
        var remaining = Enumerable.Range(0, boxes.Count).ToList();
        var kept = new List<int>();
        while (remaining.Count > 0 && kept.Count < maxKept)
        {
            int best = remaining.OrderByDescending(i => scores[i]).ThenBy(i => i).First();
            kept.Add(best);
            remaining.Remove(best);
            remaining.RemoveAll(i => Box.IoU(boxes[best], boxes[i]) > threshold);
        }
        return kept;
    }

    [Fact]
    public void Ssd_decoder_applies_softmax_threshold_class_filter_and_per_class_nms()
    {
        // Two labels, background at index 0; three priors, the first two overlapping heavily.
        var config = new DetectionConfig { Priors = new PriorConfig { Boxes = [[0.5f, 0.5f, 0.4f, 0.4f], [0.52f, 0.5f, 0.4f, 0.4f], [0.2f, 0.2f, 0.1f, 0.1f]] } };
        var decoder = new SsdDecoder(config, labels: 2);
        float[] scores =
        [
            0, 5, 0,   // prior 0: label 0, confident
            0, 4, 4.2f, // prior 1: label 0 and label 1 about equally
            3, 0, 0,   // prior 2: background
        ];
        var outputs = new Dictionary<string, (float[], long[])>
        {
            ["scores"] = (scores, [1, 3, 3]),
            ["boxes"] = (new float[12], [1, 3, 4]),
        };

        var all = decoder.Decode(outputs, 0, new DetectionParameters(0.3f, 0.45f, 100));

        // Prior 1's label 0 is suppressed by prior 0 (same class, IoU > 0.45); its label 1 survives (other class).
        Assert.Equal(2, all.Count);
        Assert.Equal(0, all[0].ClassIndex);
        Assert.Equal(Box.FromCentre(0.5f, 0.5f, 0.4f, 0.4f), all[0].Box);
        Assert.Equal(1, all[1].ClassIndex);
        Assert.True(all[0].Score > all[1].Score);

        Assert.Single(decoder.Decode(outputs, 0, new DetectionParameters(0.3f, 0.45f, 1)));
        Assert.All(decoder.Decode(outputs, 0, new DetectionParameters(0.3f, 0.45f, 100, new HashSet<int> { 1 })), c => Assert.Equal(1, c.ClassIndex));
        Assert.Empty(decoder.Decode(outputs, 0, new DetectionParameters(0.99f, 0.45f, 100)));
        // With NMS off (threshold 1) prior 1's label 0 is back.
        Assert.Equal(3, decoder.Decode(outputs, 0, new DetectionParameters(0.3f, 1f, 100)).Count);
    }

    [Fact]
    public void Cross_class_suppression_keeps_one_label_per_object_and_leaves_other_objects_alone()
    {
        // Prior 0: label 0 (probability about 0.62); prior 1, shifted slightly (IoU about 0.9): label 1 (about 0.57);
        // prior 2, far away: label 1 again. Per-class suppression keeps all three; across classes prior 1 goes.
        Box[] boxes = [Box.FromCentre(0.5f, 0.5f, 0.4f, 0.4f), Box.FromCentre(0.52f, 0.5f, 0.4f, 0.4f), Box.FromCentre(0.15f, 0.15f, 0.2f, 0.2f)];
        var priors = new PriorConfig { Boxes = [[0.5f, 0.5f, 0.4f, 0.4f], [0.52f, 0.5f, 0.4f, 0.4f], [0.15f, 0.15f, 0.2f, 0.2f]] };
        float[] scores =
        [
            0, 1.2f, 0.2f,
            0, 0.2f, 1f,
            0, 0, 2f,
        ];
        var outputs = new Dictionary<string, (float[], long[])> { ["scores"] = (scores, [1, 3, 3]), ["boxes"] = (new float[12], [1, 3, 4]) };
        var parameters = new DetectionParameters(0.3f, 0.45f, 100);

        var perClass = new SsdDecoder(new DetectionConfig { Priors = priors }, labels: 2).Decode(outputs, 0, parameters);
        var across = new SsdDecoder(new DetectionConfig { Priors = priors, CrossClassIou = 0.5f }, labels: 2).Decode(outputs, 0, parameters);

        Assert.True(Box.IoU(boxes[0], boxes[1]) > 0.5f);
        Assert.Equal(3, perClass.Count);
        Assert.Contains(perClass, c => c.ClassIndex == 1 && c.Box == boxes[1]);
        Assert.Equal([(1, boxes[2]), (0, boxes[0])], across.Select(c => (c.ClassIndex, c.Box)).ToList()); // best first
        // Only boxes that overlap by more than the cross-class IoU go: at 0.95 both labels of the object stay.
        Assert.Equal(3, new SsdDecoder(new DetectionConfig { Priors = priors, CrossClassIou = 0.95f }, labels: 2).Decode(outputs, 0, parameters).Count);
        // maxDetections counts what is left after both passes.
        Assert.Single(new SsdDecoder(new DetectionConfig { Priors = priors, CrossClassIou = 0.5f }, labels: 2).Decode(outputs, 0, new DetectionParameters(0.3f, 0.45f, 1)));
    }

    [Fact]
    public void Ssd_decoder_honours_a_background_class_that_is_not_first_and_probabilities()
    {
        var config = new DetectionConfig
        {
            BackgroundClass = 2,
            ScoresAreProbabilities = true,
            Priors = new PriorConfig { Boxes = [[0.5f, 0.5f, 0.4f, 0.4f]] },
        };
        var decoder = new SsdDecoder(config, labels: 2);
        var outputs = new Dictionary<string, (float[], long[])>
        {
            ["scores"] = ([0.1f, 0.7f, 0.2f], [1, 1, 3]),
            ["boxes"] = (new float[4], [1, 1, 4]),
        };
        var detection = Assert.Single(decoder.Decode(outputs, 0, new DetectionParameters(0.5f, 0.45f, 10)));
        Assert.Equal(1, detection.ClassIndex);
        Assert.Equal(0.7f, detection.Score);
    }

    [Theory]
    [InlineData("xyxy", true, new float[] { 0.1f, 0.2f, 0.3f, 0.4f })]
    [InlineData("yxyx", true, new float[] { 0.2f, 0.1f, 0.4f, 0.3f })]
    [InlineData("xyxy", false, new float[] { 10f, 40f, 30f, 80f })]
    [InlineData("yxyx", false, new float[] { 40f, 10f, 80f, 30f })]
    public void Decoded_outputs_are_read_in_the_declared_format(string format, bool normalized, float[] box)
    {
        var config = new DetectionConfig { Layout = "decoded", BoxFormat = format, Normalized = normalized, LabelOffset = 1 };
        var decoder = new DecodedOutputDecoder(config, labels: 3, inputWidth: 100, inputHeight: 200);
        var outputs = new Dictionary<string, (float[], long[])>
        {
            ["boxes"] = ([.. box, .. box], [1, 2, 4]),
            ["labels"] = ([3, 0], [1, 2]),       // label 3 -> index 2; label 0 (background) is dropped
            ["scores"] = ([0.8f, 0.9f], [1, 2]),
        };
        var detection = Assert.Single(decoder.Decode(outputs, 0, new DetectionParameters(0.5f, 0.45f, 10)));
        Assert.Equal(2, detection.ClassIndex);
        Assert.Equal(new Box(0.1f, 0.2f, 0.3f, 0.4f), detection.Box);
    }

    [Fact]
    public void Letterboxed_boxes_map_back_to_original_pixels_and_are_clipped()
    {
        // A 200 x 100 image letterboxed into 100 x 100: scale 0.5, 25 px bars above and below.
        var spec = new InputSpec(100, 100, 1, [0f], [1f], Letterbox: true);
        var transform = ImagePreprocessor.Transform(200, 100, spec);
        Assert.Equal(new Box(20, 0, 100, 50), transform.ToOriginal(new Box(0.1f, 0.25f, 0.5f, 0.5f), spec.Width, spec.Height)); // inside the image
        // Crosses the right edge and the top bar: clipped at x = 200 and y = 0.
        Assert.Equal(new Box(180, 0, 200, 50), transform.ToOriginal(new Box(0.9f, 0.1f, 1.1f, 0.5f), spec.Width, spec.Height));
        // Entirely in the top bar: nothing of it is left.
        Assert.Equal(0, transform.ToOriginal(new Box(0.2f, 0.0f, 0.4f, 0.2f), spec.Width, spec.Height).Area);
    }

    private sealed class Tolerance(float epsilon) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= epsilon;
        public int GetHashCode(float obj) => 0;
    }
}
