using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Onnx.Proto;
using RffService.TestSupport;
using RffService.Vision.Configuration;

namespace RffService.Inference.Tests;

public class ModelConfigInferenceTests
{
    private static GraphBuilder Classifier(long?[] input) => new GraphBuilder("classifier")
        .Input("pixels", input).Output("scores", [null, 4])
        .Node("GlobalAveragePool", ["pixels"], ["pooled"])
        .Node("Flatten", ["pooled"], ["flat"])
        .Initializer("w", [4, 3], new float[12])
        .Node("Gemm", ["flat", "w"], ["scores"], attributes: Attributes.Int("transB", 1));

    [Fact]
    public void A_classifier_with_labels_and_normalisation_in_its_metadata_is_complete()
    {
        var model = Classifier([null, 3, 32, 40])
            .Metadata("labels", "[\"cat\", \"dog\", \"bird\", \"fish\"]").Metadata("mean", "0.5,0.5,0.5").Metadata("std", "[0.25, 0.25, 0.25]")
            .Metadata("resize", "letterbox").Build();

        var proposal = ModelConfigInference.Propose(model);

        Assert.True(proposal.Complete, string.Join("; ", proposal.Missing));
        var config = proposal.Config;
        Assert.Equal(("classification", "pixels", 3, 40, 32, false), (config.Task, config.Input.Name, config.Input.Channels, config.Input.Width, config.Input.Height, config.Input.DynamicSize));
        Assert.Equal(["cat", "dog", "bird", "fish"], config.Labels);
        Assert.Equal([0.5f, 0.5f, 0.5f], config.Input.Mean);
        Assert.Equal([0.25f, 0.25f, 0.25f], config.Input.Std);
        Assert.Equal(("letterbox", "scores"), (config.Input.Resize, config.Output.Name));
        Assert.Empty(ModelConfigValidator.Validate(config));
    }

    [Fact]
    public void What_the_graph_cannot_say_is_listed_with_its_placeholder()
    {
        var proposal = ModelConfigInference.Propose(Classifier([null, 3, null, null]).Build());

        Assert.False(proposal.Complete);
        Assert.Equal(3, proposal.Missing.Count);
        Assert.Contains(proposal.Missing, m => m.StartsWith("labels") && m.Contains("class0..class3"));
        Assert.Contains(proposal.Missing, m => m.StartsWith("input.mean"));
        Assert.Contains(proposal.Missing, m => m.StartsWith("input.width"));
        Assert.True(proposal.Config.Input.DynamicSize);
        Assert.Equal(4, proposal.Config.Labels.Count);
    }

    [Fact]
    public void A_torchvision_style_detector_is_read_as_the_decoded_layout_of_one_image()
    {
        var model = new GraphBuilder("ssd")
            .Input("images", [3, 320, 320])
            .Output("boxes", [null, 4]).Output("scores", [null]).Output("labels", [null], TensorProto.Types.DataType.Int64)
            .Node("Identity", ["images"], ["boxes"]).Node("Identity", ["images"], ["scores"]).Node("Identity", ["images"], ["labels"])
            .Metadata("labels", "a,b").Build();

        var proposal = ModelConfigInference.Propose(model);

        Assert.True(proposal.Complete, string.Join("; ", proposal.Missing));
        var detection = proposal.Config.Detection!;
        Assert.Equal((DetectionConfig.DecodedLayout, "boxes", "scores", "labels", 1, false), (detection.Layout, detection.BoxesOutput, detection.ScoresOutput,
            detection.LabelsOutput, detection.LabelOffset, detection.Normalized));
        Assert.Equal((320, 320, 3), (proposal.Config.Input.Width, proposal.Config.Input.Height, proposal.Config.Input.Channels));
        Assert.Contains(proposal.Notes, n => n.Contains("CHW"));
    }

    [Fact]
    public void A_raw_ssd_needs_its_priors_from_the_metadata()
    {
        GraphBuilder Raw() => new GraphBuilder("raw")
            .Input("x", [null, 1, 32, 32]).Output("s", [null, 8, 3]).Output("b", [null, 8, 4])
            .Node("Identity", ["x"], ["s"]).Node("Identity", ["x"], ["b"])
            .Metadata("labels", "a,b").Metadata("mean", "0").Metadata("std", "1");

        var without = ModelConfigInference.Propose(Raw().Build());
        Assert.Contains(without.Missing, m => m.StartsWith("detection.priors"));
        Assert.Equal((DetectionConfig.RawLayout, "s", "b"), (without.Config.Detection!.Layout, without.Config.Detection.ScoresOutput, without.Config.Detection.BoxesOutput));

        var with = ModelConfigInference.Propose(Raw().Metadata("detection",
            """{"layout": "ssd", "scoresOutput": "s", "boxesOutput": "b", "priors": {"featureMaps": [{"width": 2, "height": 2, "aspectRatios": []}]}}""").Build());
        Assert.True(with.Complete, string.Join("; ", with.Missing));
        Assert.Equal(2, with.Config.Detection!.Priors.FeatureMaps[0].Width);
    }

    [Fact]
    public async Task The_repository_serves_a_folder_without_config_json_when_the_file_says_enough_and_refuses_it_saying_what_is_missing()
    {
        var complete = Classifier([null, 3, 8, 8]).Metadata("labels", "a,b,c,d").Metadata("mean", "0,0,0").Metadata("std", "1,1,1").Build();
        using var models = new TestModelRepository().AddGraphOnly("complete", complete).AddGraphOnly("bare", Classifier([null, 3, 8, 8]).Build());
        await using var loaded = TestServices.Load(models.Root, defaultModel: "complete");
        {
            var served = loaded.Model("complete");
            Assert.Equal(ModelState.Ready, served.State);
            Assert.True(served.ConfigInferred);
            Assert.Equal(["a", "b", "c", "d"], served.Config!.Labels);
            var refused = loaded.Model("bare");
            Assert.Equal(ModelState.Failed, refused.State);
            Assert.Contains("config.json is missing", refused.Error);
            Assert.Contains("labels", refused.Error);
            Assert.Contains("inspect", refused.Error);
        }
    }

    /// <summary>The classifier's logits, or their Softmax or LogSoftmax (then an Identity, as exporters add), as "scores".</summary>
    private static Onnx.Proto.ModelProto Terminated(string? final)
    {
        var weights = Enumerable.Range(0, 12).Select(i => (i % 5 - 2) * 1.5f).ToArray();
        var builder = new GraphBuilder("terminated")
            .Input("pixels", [null, 3, 8, 8]).Output("scores", [null, 4])
            .Node("GlobalAveragePool", ["pixels"], ["pooled"])
            .Node("Flatten", ["pooled"], ["flat"])
            .Initializer("w", [4, 3], weights)
            .Node("Gemm", ["flat", "w"], [final is null ? "scores" : "logits"], attributes: Attributes.Int("transB", 1))
            .Metadata("labels", "a,b,c,d").Metadata("mean", "0").Metadata("std", "0.5");
        if (final is not null) builder = builder.Node(final, ["logits"], ["last"], attributes: Attributes.Int("axis", 1)).Node("Identity", ["last"], ["scores"]);
        return builder.Build();
    }

    [Fact]
    public async Task A_softmax_terminated_graph_is_read_as_probabilities_and_not_normalised_twice()
    {
        using var models = new TestModelRepository().AddGraphOnly("logits", Terminated(null)).AddGraphOnly("softmax", Terminated("Softmax"))
            .AddGraphOnly("logsoftmax", Terminated("LogSoftmax"));
        await using var services = TestServices.Load(models.Root, defaultModel: "logits");
        Assert.True(services.Model("softmax").Config!.Output.Probabilities);
        Assert.False(services.Model("logits").Config!.Output.Probabilities);
        Assert.False(services.Model("logsoftmax").Config!.Output.Probabilities); // softmax of log-probabilities is the probabilities

        var image = TestImages.Png(8, 8);
        float[] Probabilities(string model) =>
            services.Classifier.ClassifyAsync([image], model, topK: 4).GetAwaiter().GetResult()[0].Predictions.OrderBy(p => p.Index).Select(p => p.Probability).ToArray();
        var expected = Probabilities("logits");
        Assert.True(expected.Max() - expected.Min() > 0.1, "the test needs distinct probabilities");
        foreach (var model in new[] { "softmax", "logsoftmax" })
            Assert.Equal(expected, Probabilities(model), (a, b) => Math.Abs(a - b) < 1e-5);
    }
}
