using RffService.Onnx;
using RffService.TestSupport;
using RffService.Vision.Imaging;
using RffService.Vision;

namespace RffService.Inference.Tests;

public class ClassificationServiceTests : IDisposable
{
    private readonly TestModelRepository _models = new TestModelRepository()
        .AddModel("tiny", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig())
        .AddModel("rgb", TestModelRepository.TinySpec(channels: 3), TestModelRepository.TinyConfig(channels: 3, resize: "letterbox"))
        .AddGraph("detector", TestModelRepository.TinyDetector(), TestModelRepository.TinyDetectorConfig());

    [Fact]
    public async Task Probabilities_are_the_softmax_of_the_reference_forward_pass()
    {
        await using var services = TestServices.Load(_models.Root);
        var png = TestImages.Png(16, 16, gray: true);

        var result = Assert.Single(await services.Classifier.ClassifyAsync([png], "tiny", topK: 3));

        // Reference: the same pre-processing, then the managed forward pass of the spec the ONNX model was built from.
        using var image = ImageDecoder.Decode(png, 1_000_000);
        var input = new float[16 * 16];
        ImagePreprocessor.WriteTensor(image, InputSpec.From(TestModelRepository.TinyConfig().Input), input);
        var logits = RffCnnManagedForward.Logits(TestModelRepository.TinySpec(), input, 1);
        var expected = new float[3];
        Vision.Postprocessing.Softmax.Apply(logits, expected);

        Assert.Equal(3, result.Predictions.Count);
        foreach (var prediction in result.Predictions)
        {
            Assert.Equal(TestModelRepository.Labels[prediction.Index], prediction.Label);
            Assert.Equal(expected[prediction.Index], prediction.Probability, 1e-4f);
        }
        Assert.True(result.Predictions[0].Probability >= result.Predictions[1].Probability);
        Assert.Equal(ImageId.Of(png), result.ImageId);
        Assert.Equal((1, "CPUExecutionProvider"), (result.Version, result.ExecutionProvider));
    }

    [Fact]
    public async Task A_batch_gives_the_same_results_as_single_requests_in_order()
    {
        await using var services = TestServices.Load(_models.Root);
        var classifier = services.Classifier;
        byte[][] images = [TestImages.Png(16, 16), TestImages.Jpeg(40, 24), TestImages.Webp(16, 16), TestImages.Bmp(7, 9)];

        var batch = await classifier.ClassifyAsync(images.Select(b => (ReadOnlyMemory<byte>)b).ToList(), "rgb", topK: 3);

        Assert.Equal(images.Length, batch.Count);
        for (int i = 0; i < images.Length; i++)
        {
            var single = Assert.Single(await classifier.ClassifyAsync([images[i]], "rgb", topK: 3));
            Assert.Equal(single.ImageId, batch[i].ImageId);
            Assert.Equal(single.Predictions.Select(p => p.Index), batch[i].Predictions.Select(p => p.Index));
            for (int k = 0; k < 3; k++) Assert.Equal(single.Predictions[k].Probability, batch[i].Predictions[k].Probability, 1e-5f);
        }
    }

    [Fact]
    public async Task Default_model_and_top_k_clamping()
    {
        await using var services = TestServices.Load(_models.Root);
        var result = Assert.Single(await services.Classifier.ClassifyAsync([TestImages.Png()], null, topK: 50));
        Assert.Equal("tiny", result.Model);
        Assert.Equal(3, result.Predictions.Count);
        Assert.Equal(1f, result.Predictions.Sum(p => p.Probability), 1e-5f);
    }

    [Theory]
    [InlineData("nope", 1, ErrorKind.NotFound)]
    [InlineData("../../etc/passwd", 1, ErrorKind.NotFound)]
    [InlineData("detector", 1, ErrorKind.InvalidParameter)]
    [InlineData("tiny", 0, ErrorKind.InvalidParameter)]
    [InlineData("tiny", -3, ErrorKind.InvalidParameter)]
    public async Task Bad_parameters_are_refused_with_their_kind(string model, int topK, ErrorKind kind)
    {
        await using var services = TestServices.Load(_models.Root);
        var ex = await Assert.ThrowsAsync<InferenceException>(() => services.Classifier.ClassifyAsync([TestImages.Png()], model, topK));
        Assert.Equal(kind, ex.Kind);
    }

    [Fact]
    public async Task Batch_limits_and_bad_images_name_the_image()
    {
        await using var services = TestServices.Load(_models.Root, configure: o => o.MaxBatchImages = 2);
        var classifier = services.Classifier;

        var tooMany = await Assert.ThrowsAsync<InferenceException>(() => classifier.ClassifyAsync([TestImages.Png(), TestImages.Png(), TestImages.Png()], "tiny", 1));
        Assert.Equal(ErrorKind.TooLarge, tooMany.Kind);

        var bad = await Assert.ThrowsAsync<InferenceException>(() => classifier.ClassifyAsync([TestImages.Png(), "garbage"u8.ToArray()], "tiny", 1));
        Assert.Equal(ErrorKind.BadInput, bad.Kind);
        Assert.StartsWith("Image 2 of 2", bad.Message);
    }

    public void Dispose() => _models.Dispose();
}
