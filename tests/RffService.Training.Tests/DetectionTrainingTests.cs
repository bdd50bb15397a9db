using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Vision.Detection;

namespace RffService.Training.Tests;

public class DetectionMetricsTests
{
    private static readonly string[] Labels = ["a", "b"];

    private static IReadOnlyList<GroundTruth>[] Truth(params GroundTruth[][] images) => images.Select(i => (IReadOnlyList<GroundTruth>)i).ToArray();

    [Fact]
    public void Hand_worked_voc_example()
    {
        // Two objects of class a on two images; three detections: hit, miss, hit.
        var truth = Truth([new GroundTruth(0, new Box(0, 0, 10, 10))], [new GroundTruth(0, new Box(0, 0, 10, 10))]);
        ScoredBox[] detections =
        [
            new(0, 0, 0.9f, new Box(0, 0, 10, 10)),
            new(1, 0, 0.8f, new Box(50, 50, 60, 60)),
            new(1, 0, 0.7f, new Box(1, 1, 10, 10)),
        ];
        var (precision, recall) = DetectionMetrics.PrecisionRecall(detections, truth, 0, 0.5);
        Assert.Equal([1, 0.5, 2 / 3.0], precision);
        Assert.Equal([0.5, 0.5, 1], recall);
        // All-point: 0.5 x 1 + 0.5 x 2/3.
        Assert.Equal(0.5 + 1 / 3.0, DetectionMetrics.AllPointAp(precision, recall), 10);
        // COCO 101-point: recall 0 .. 0.5 (51 points) at precision 1, 0.51 .. 1 (50 points) at 2/3.
        Assert.Equal((51 + 50 * 2 / 3.0) / 101, DetectionMetrics.CocoAp(precision, recall), 10);
    }

    [Fact]
    public void Duplicates_and_wrong_classes_are_false_positives()
    {
        var truth = Truth([new GroundTruth(0, new Box(0, 0, 10, 10))]);
        ScoredBox[] detections =
        [
            new(0, 0, 0.9f, new Box(0, 0, 10, 10)),
            new(0, 0, 0.8f, new Box(0, 0, 10, 9)),   // duplicate of the same object
            new(0, 1, 0.95f, new Box(0, 0, 10, 10)), // right place, wrong class
        ];
        var (precision, recall) = DetectionMetrics.PrecisionRecall(detections, truth, 0, 0.5);
        Assert.Equal([1, 0.5], precision);
        Assert.Equal([1, 1], recall);
        var report = DetectionMetrics.Evaluate(detections, truth, Labels);
        Assert.Equal(1, report.MapAt50, 10); // class b has no ground truth and is left out of the mean
        Assert.Equal(["a"], report.ApAt50PerClass.Keys);
    }

    [Fact]
    public void Perfect_detections_score_one_and_none_score_zero()
    {
        var truth = Truth([new GroundTruth(0, new Box(0, 0, 10, 10)), new GroundTruth(1, new Box(20, 20, 40, 30))], [new GroundTruth(1, new Box(5, 5, 9, 9))]);
        var perfect = truth.SelectMany((objects, image) => objects.Select(o => new ScoredBox(image, o.Label, 1f, o.Box))).ToList();
        var report = DetectionMetrics.Evaluate(perfect, truth, Labels);
        Assert.Equal(1, report.MapAt50, 10);
        Assert.Equal(1, report.CocoMap, 10);
        Assert.Equal(1, report.ClassAgnosticApAt50, 10);
        Assert.Equal(0, DetectionMetrics.Evaluate([], truth, Labels).MapAt50);
    }

    [Fact]
    public void Coco_map_penalises_loose_boxes_that_voc_accepts()
    {
        var truth = Truth([new GroundTruth(0, new Box(0, 0, 10, 10))]);
        ScoredBox[] loose = [new(0, 0, 1f, new Box(0, 0, 10, 15))]; // IoU 2/3
        var report = DetectionMetrics.Evaluate(loose, truth, Labels);
        Assert.Equal(1, report.MapAt50, 10);
        Assert.Equal(0.4, report.CocoMap, 10); // true positive at thresholds 0.50, 0.55, 0.60, 0.65 only
    }
}

public class CanvasAndMatchingTests
{
    private static ImageDataset Items()
    {
        // 20 bright 28 x 28 items: a filled rectangle, different per item, labels 0..9.
        var pixels = new byte[20 * 28 * 28];
        for (int i = 0; i < 20; i++)
            for (int y = 4; y < 24; y++)
                for (int x = 6 + i % 5; x < 22; x++) pixels[i * 784 + y * 28 + x] = 200;
        return new ImageDataset(28, 28, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), Enumerable.Range(0, 20).Select(i => (byte)(i % 10)).ToArray(), pixels);
    }

    [Fact]
    public void Canvases_are_deterministic_and_hold_one_to_six_tight_boxes_inside()
    {
        var generator = new CanvasGenerator(Items(), 128, seed: 5);
        for (int i = 0; i < 50; i++)
        {
            var canvas = generator.Make(i);
            Assert.Equal(canvas.Pixels, generator.Make(i).Pixels);
            Assert.InRange(canvas.Objects.Count, 1, CanvasGenerator.MaxObjects);
            foreach (var o in canvas.Objects)
            {
                Assert.InRange(o.Box.XMin, 0, 128);
                Assert.InRange(o.Box.XMax, o.Box.XMin + 1, 128);
                Assert.InRange(o.Box.YMax, o.Box.YMin + 1, 128);
                // The items are 16-20 of 28 pixels wide, 20 high, scaled to a side of 24-80 pixels.
                Assert.InRange(o.Box.Height, CanvasGenerator.MinSide * 20f / 28 - 4, CanvasGenerator.MaxSide * 20f / 28 + 4); // bilinear edges add a pixel or two
                // Inside the tight box the item is drawn: the item's 200 at a contrast of 0.7 to 1.
                int cx = (int)((o.Box.XMin + o.Box.XMax) / 2), cy = (int)((o.Box.YMin + o.Box.YMax) / 2);
                Assert.True(canvas.Pixels[cy * 128 + cx] >= 0.7 * 200 - 1);
            }
        }
        Assert.NotEqual(generator.Make(0).Pixels, new CanvasGenerator(Items(), 128, seed: 6).Make(0).Pixels);
    }

    [Fact]
    public void Matching_takes_the_best_prior_per_object_and_every_prior_above_one_half()
    {
        float[] priors =
        [
            0.25f, 0.25f, 0.5f, 0.5f,   // the object exactly
            0.3f, 0.25f, 0.5f, 0.5f,    // IoU 0.82 with it
            0.75f, 0.75f, 0.5f, 0.5f,   // holds the small object: IoU 0.16, its best prior
            0.8f, 0.8f, 0.1f, 0.1f,     // overlaps the small object less (IoU 0.11)
        ];
        GroundTruth[] objects = [new(3, new Box(0, 0, 0.5f, 0.5f)), new(7, new Box(0.78f, 0.78f, 0.98f, 0.98f))];

        var (labels, matched) = PriorMatcher.Match(priors, objects);

        Assert.Equal([3, 3, 7, -1], labels);
        Assert.Equal([0, 0, 1, -1], matched);
    }
}
