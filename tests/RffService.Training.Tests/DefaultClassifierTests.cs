using RffService.TestSupport;
using RffService.Training.Evaluation;

namespace RffService.Training.Tests;

/// <summary>The committed classifiers on the 10,000 held-out Fashion-MNIST test images, through the service's code path.</summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Model quality")]
public class DefaultClassifierTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    /// <summary>
    /// The default classifier (trained end to end with PyTorch, 93.09% on its card) against its required floor, a little
    /// under the 93% goal; the closed-form pure random-features model (91.42%) against a floor under its own figure.
    /// </summary>
    [Theory]
    [InlineData("rff-cnn-fashion-gap", 0.925)]
    [InlineData("rff-cnn-fashion", 0.905)]
    public void The_committed_classifiers_are_trained_and_classify_held_out_items(string model, double floor)
    {
        var report = ModelEvaluator.InProcess(data.ModelsRoot, model, data.Test);
        Assert.True(report.Accuracy >= floor, report.Format());
    }
}
