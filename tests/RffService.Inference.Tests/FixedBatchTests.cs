using RffService.Inference.Tensors;
using RffService.Onnx;
using RffService.Onnx.Proto;
using RffService.TestSupport;
using RffService.Vision;

namespace RffService.Inference.Tests;

/// <summary>
/// Exports without dynamic_axes fix the batch at 1. The service gives such a model a symbolic batch when its graph runs
/// batches all the same, and otherwise runs it one image at a time and says why it cannot be explained; never a 500.
/// </summary>
public class FixedBatchTests
{
    /// <summary>Conv -> Relu -> global average pool -> a linear readout, declared with batch 1; flattened either with
    /// Flatten (batch-agnostic) or with a Reshape to the constant [1, -1] (the batch baked in).</summary>
    private static ModelProto FixedBatchClassifier(bool bakedReshape)
    {
        var random = new Random(3);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var builder = new GraphBuilder("fixed_batch")
            .Input(RffService.Onnx.RffCnnBuilder.InputName, [1, 1, 16, 16]).Output(RffService.Onnx.RffCnnBuilder.OutputName, [1, 3])
            .Initializer("w", [4, 1, 3, 3], Values(36)).Initializer("b", [4], Values(4))
            .Initializer("readout", [4, 3], Values(12))
            .Node("Conv", [RffService.Onnx.RffCnnBuilder.InputName, "w", "b"], ["conv"], attributes: Attributes.Ints("pads", 1, 1, 1, 1))
            .Node("Relu", ["conv"], ["features"])
            .Node("GlobalAveragePool", ["features"], ["pooled"]);
        builder = bakedReshape
            ? builder.Int64Initializer("shape", [2], [1, -1]).Node("Reshape", ["pooled", "shape"], ["flat"])
            : builder.Node("Flatten", ["pooled"], ["flat"]);
        return builder.Node("MatMul", ["flat", "readout"], [RffService.Onnx.RffCnnBuilder.OutputName]).Build();
    }

    private static ReadOnlyMemory<byte>[] Images(int count) =>
        Enumerable.Range(0, count).Select(i => (ReadOnlyMemory<byte>)TestImages.Png(16 + 3 * i, 16, gray: true)).ToArray();

    [Fact]
    public async Task A_graph_that_runs_batches_gets_a_symbolic_batch_classifies_batches_and_is_explained()
    {
        using var models = new TestModelRepository().AddGraph("fixed", FixedBatchClassifier(bakedReshape: false), TestModelRepository.TinyConfig());
        await using var services = TestServices.Load(models.Root, defaultModel: "fixed");
        var runtime = services.Model("fixed").Runtime!;
        Assert.Null(runtime.Session.FixedBatchSize);
        Assert.True(runtime.BatchAxis);

        var images = Images(3);
        var together = await services.Classifier.ClassifyAsync(images, "fixed", topK: 3);
        for (int i = 0; i < images.Length; i++)
        {
            var alone = (await services.Classifier.ClassifyAsync([images[i]], "fixed", topK: 3))[0];
            Assert.Equal(alone.Predictions.Select(p => p.Probability), together[i].Predictions.Select(p => p.Probability));
        }
        Assert.Null(runtime.Explanations.Error);
        Assert.NotNull(runtime.Explanations.Explainer);
    }

    [Fact]
    public async Task A_graph_with_the_batch_baked_in_runs_one_image_at_a_time_and_says_why_it_cannot_be_explained()
    {
        using var models = new TestModelRepository().AddGraph("baked", FixedBatchClassifier(bakedReshape: true), TestModelRepository.TinyConfig());
        await using var services = TestServices.Load(models.Root, defaultModel: "baked");
        var runtime = services.Model("baked").Runtime!;
        Assert.Equal(1, runtime.Session.FixedBatchSize);
        Assert.False(runtime.BatchAxis);

        var results = await services.Classifier.ClassifyAsync(Images(3), "baked", topK: 1);
        Assert.Equal(3, results.Count);
        Assert.Contains("dynamic_axes", runtime.Explanations.Error);

        var tensors = new TensorInferenceService(services.Options);
        var refused = await Assert.ThrowsAsync<InferenceException>(() =>
            tensors.RunAsync(services.Model("baked"), new float[2 * 256], [2, 1, 16, 16], [RffService.Onnx.RffCnnBuilder.OutputName]));
        Assert.Equal(ErrorKind.BadInput, refused.Kind);
        var one = await tensors.RunAsync(services.Model("baked"), new float[256], [1, 1, 16, 16], [RffService.Onnx.RffCnnBuilder.OutputName]);
        Assert.Equal([1L, 3L], one[RffService.Onnx.RffCnnBuilder.OutputName].Shape);
    }
}
