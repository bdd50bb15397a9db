using System.Text.Json;
using Json.Schema;
using RffService.Vision.Configuration;

namespace RffService.Vision.Tests;

/// <summary>docs/model-config.schema.json, which the service checks configs against, accepts what the service writes and reads.</summary>
public class ModelConfigSchemaTests
{
    private static readonly string Root = FindRoot();
    private static readonly JsonSchema Schema = JsonSchema.FromText(File.ReadAllText(Path.Combine(Root, "docs", "model-config.schema.json")));

    private static EvaluationResults Evaluate(string json) =>
        Schema.Evaluate(JsonDocument.Parse(json).RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });

    [Fact]
    public void Every_committed_config_is_valid()
    {
        var configs = Directory.GetFiles(Path.Combine(Root, "models"), "config.json", SearchOption.AllDirectories);
        Assert.NotEmpty(configs);
        foreach (var path in configs)
        {
            var result = Evaluate(File.ReadAllText(path));
            Assert.True(result.IsValid, $"{path}: {JsonSerializer.Serialize(result)}");
        }
    }

    [Fact]
    public void A_config_written_by_the_service_with_every_field_set_is_valid()
    {
        var config = new ModelConfig
        {
            Task = "detection",
            Description = "all fields",
            Trained = false,
            Labels = ["a", "b"],
            Input = new InputConfig { Name = "x", Width = 32, Height = 32, Channels = 3, Mean = [0.1f, 0.2f, 0.3f], Std = [1f, 1f, 1f], Resize = "letterbox", DynamicSize = false, MaxWidth = 64, MaxHeight = 64 },
            Output = new OutputConfig { Name = "y", Probabilities = true },
            Batching = new BatchingConfig { Enabled = true, MaxBatchSize = 4, MaxQueueDelayMicroseconds = 10, MaxQueueSize = 5, WaitWhenIdle = true },
            Detection = new DetectionConfig
            {
                Layout = "ssd",
                ScoresOutput = "s",
                BoxesOutput = "b",
                BackgroundClass = 0,
                ScoresAreProbabilities = false,
                Variances = [0.1f, 0.1f, 0.2f, 0.2f],
                Priors = new PriorConfig { MinScale = 0.2f, MaxScale = 0.9f, Clip = true, FeatureMaps = [new FeatureMapConfig { Width = 4, Height = 4, AspectRatios = [2f] }], Boxes = [[0.5f, 0.5f, 0.1f, 0.1f]] },
                LabelsOutput = "l",
                BoxFormat = "yxyx",
                Normalized = false,
                LabelOffset = 1,
            },
        };
        var result = Evaluate(JsonSerializer.Serialize(config, ModelConfig.JsonOptions));
        Assert.True(result.IsValid, JsonSerializer.Serialize(result));
    }

    [Theory]
    [InlineData("""{ "task": "segmentation", "labels": ["a"], "input": { "width": 8, "height": 8 } }""")]
    [InlineData("""{ "task": "classification", "labels": [], "input": { "width": 8, "height": 8 } }""")]
    [InlineData("""{ "task": "classification", "labels": ["a"], "input": { "width": 0, "height": 8 } }""")]
    [InlineData("""{ "task": "classification", "labels": ["a"], "input": { "width": 8, "height": 8, "channels": 2 } }""")]
    [InlineData("""{ "task": "classification", "labels": ["a"], "input": { "width": 8, "height": 8, "resize": "crop" } }""")]
    [InlineData("""{ "task": "classification", "labels": ["a"], "input": { "width": 8, "height": 8 }, "colour": "red" }""")]
    [InlineData("""{ "task": "detection", "labels": ["a"], "input": { "width": 8, "height": 8 } }""")]
    public void Configs_the_service_refuses_are_invalid(string json)
    {
        Assert.False(Evaluate(json).IsValid);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RffService.sln"))) return dir.FullName;
        throw new InvalidOperationException("RffService.sln not found above the test folder.");
    }
}
