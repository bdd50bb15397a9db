using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RffService.Inference;
using RffService.Inference.Hosting;

namespace RffService.Api.Tests;

/// <summary>The service's batching defaults obey the limits of a config.json "batching" section, from the same schema.</summary>
public class InferenceOptionsTests
{
    [Theory]
    [InlineData("MaxBatchSize", "2000")]
    [InlineData("MaxBatchSize", "0")]
    [InlineData("MaxQueueDelayMicroseconds", "-1")]
    [InlineData("MaxQueueSize", "0")]
    public void Batching_defaults_outside_the_schema_limits_stop_the_start(string key, string value)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Options(key, value));
        Assert.Contains("Inference:Batching", error.Message);
    }

    [Fact]
    public void Batching_defaults_at_the_schema_limits_are_accepted()
    {
        Assert.Equal(1024, Options("MaxBatchSize", "1024").Batching.MaxBatchSize);
        Assert.Equal(10_000_000, Options("MaxQueueDelayMicroseconds", "10000000").Batching.MaxQueueDelayMicroseconds);
    }

    private static InferenceOptions Options(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"Inference:Batching:{key}"] = value }).Build();
        using var provider = new ServiceCollection().AddLogging().AddRffInference(configuration).BuildServiceProvider();
        return provider.GetRequiredService<IOptions<InferenceOptions>>().Value;
    }
}
