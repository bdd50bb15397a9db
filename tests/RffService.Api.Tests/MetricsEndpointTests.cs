using System.Net.Http.Headers;
using System.Net;
using System.Text.RegularExpressions;
using RffService.TestSupport;

namespace RffService.Api.Tests;

public class MetricsEndpointTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static double Value(string scrape, string series)
    {
        var match = Regex.Match(scrape, "^" + Regex.Escape(series) + @" (\S+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"no series {series} in:\n{scrape}");
        return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Scrape_counts_requests_latency_batches_decodes_and_model_states()
    {
        var client = await factory.ReadyClientAsync();
        var png = new ByteArrayContent(TestImages.Png(16, 16, gray: true));
        png.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        for (int i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=tiny", png)).StatusCode);
        var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(TestImages.Png(16, 16)), "image", "a.png" },
            { new ByteArrayContent(TestImages.Jpeg(16, 16)), "image", "b.jpg" },
        };
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/classify?model=tiny", form)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync("/classify?model=nope", png)).StatusCode);

        var response = await client.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        string scrape = await response.Content.ReadAsStringAsync();
        Assert.Equal(4, Value(scrape, "rff_http_requests_total{endpoint=\"/classify\",model=\"tiny\",status=\"200\"}"));
        Assert.Equal(1, Value(scrape, "rff_http_requests_total{endpoint=\"/classify\",model=\"-\",status=\"404\"}"));
        Assert.True(Value(scrape, "rff_http_request_duration_seconds_count{endpoint=\"/classify\"}") >= 5);
        // Three runs of one image and one of two.
        Assert.Equal(4, Value(scrape, "rff_inference_duration_seconds_count{model=\"tiny\",task=\"classification\"}"));
        Assert.Equal(5, Value(scrape, "rff_inference_batch_size_sum{model=\"tiny\"}"));
        Assert.Equal(3, Value(scrape, "rff_inference_batch_size_bucket{model=\"tiny\",le=\"1\"}"));
        Assert.True(Value(scrape, "rff_images_decoded_total{format=\"png\"}") >= 4);

        // Route patterns as written: /cam, not /cam/.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/cam?model=tiny&faithfulness=false", png)).StatusCode);
        Assert.Equal(1, Value(await client.GetStringAsync("/metrics"), "rff_http_requests_total{endpoint=\"/cam\",model=\"tiny\",status=\"200\"}"));
        Assert.True(Value(scrape, "rff_images_decoded_total{format=\"jpeg\"}") >= 1);
        Assert.Equal(1, Value(scrape, "rff_model_state{model=\"tiny\",state=\"ready\"}"));
        Assert.Equal(1, Value(scrape, "rff_model_state{model=\"broken\",state=\"failed\"}"));
        Assert.Equal(0, Value(scrape, "rff_model_state{model=\"broken\",state=\"ready\"}"));
        Assert.Contains("process_working_set_bytes", scrape);
    }
}
