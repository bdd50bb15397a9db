using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RffService.Inference.Models;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>The service with the repository's own models/ folder, as the README's run command starts it.</summary>
public class DefaultModelsTests
{
    public sealed class RepositoryModelsFactory : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder) =>
            builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Inference:ModelsPath"] = Path.Combine(RepositoryRoot(), "models"),
                ["Serilog:MinimumLevel:Default"] = "Warning",
            }));
    }

    public static string RepositoryRoot() => FashionMnistFixture.FindRepositoryRoot();

    [Fact]
    public async Task Every_committed_model_loads_and_the_default_classifier_answers()
    {
        using var factory = new RepositoryModelsFactory();
        var client = factory.CreateClient();
        var repository = factory.Services.GetRequiredService<ModelRepository>();
        await repository.Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        await repository.ExplanationsChecked.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.NotEmpty(repository.Models);
        Assert.All(repository.Models, m => Assert.True(m.State == ModelState.Ready, $"{m.Name}: {m.Error}"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);

        var form = new MultipartFormDataContent { { new ByteArrayContent(TestImages.Png(28, 28, gray: true)), "image", "item.png" } };
        var result = await (await client.PostAsync("/classify", form)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("rff-cnn-fashion-gap", result.GetProperty("model").GetString());
        Assert.Equal(5, result.GetProperty("predictions").GetArrayLength());
    }
}
