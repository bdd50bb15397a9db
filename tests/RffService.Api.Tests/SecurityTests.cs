using System.Text.Json;
using System.Net.Http.Headers;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>The service with API keys, a CORS origin and the rate limiter configured.</summary>
public sealed class SecuredServiceFactory : ServiceFactory
{
    public const string InferenceKey = "inference-key-0123456789";
    public const string AdminKey = "admin-key-9876543210";
    public const string Origin = "https://app.example.com";

    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();

    protected override IDictionary<string, string?> Settings
    {
        get
        {
            var settings = base.Settings;
            settings["Security:ApiKeys:0:Name"] = "client";
            settings["Security:ApiKeys:0:Sha256"] = Hash(InferenceKey);
            settings["Security:ApiKeys:0:Scopes:0"] = "inference";
            settings["Security:ApiKeys:1:Name"] = "operator";
            settings["Security:ApiKeys:1:Sha256"] = Hash(AdminKey);
            settings["Security:ApiKeys:1:Scopes:0"] = "admin";
            settings["Security:CorsOrigins:0"] = Origin;
            settings["Inference:ReloadInterval"] = "00:00:00";
            return settings;
        }
    }
}

public class SecurityTests(SecuredServiceFactory factory) : IClassFixture<SecuredServiceFactory>
{
    private static HttpRequestMessage Classify(string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/classify?model=tiny")
        {
            Content = new ByteArrayContent(TestImages.Png(16, 16)) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } },
        };
        if (key is not null) request.Headers.Add("X-API-Key", key);
        return request;
    }

    [Fact]
    public async Task Inference_needs_a_valid_key_and_health_never_does()
    {
        var client = await factory.ReadyClientAsync();

        var missing = await client.SendAsync(Classify(null));
        Assert.Contains("X-API-Key", await Problems.AssertProblemAsync(missing, HttpStatusCode.Unauthorized));
        Assert.Contains("ApiKey", missing.Headers.WwwAuthenticate.ToString());
        await Problems.AssertProblemAsync(await client.SendAsync(Classify("wrong-key")), HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Classify(SecuredServiceFactory.InferenceKey))).StatusCode);
        // Admin keys may also infer.
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Classify(SecuredServiceFactory.AdminKey))).StatusCode);

        await Problems.AssertProblemAsync(await client.GetAsync("/models"), HttpStatusCode.Unauthorized);
        var unauthorized = await client.PostAsync("/v2/models/tiny/infer", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        // The protocol's own error body on /v2, not problem details.
        Assert.Contains("API key", JsonDocument.Parse(await unauthorized.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        foreach (var open in new[] { "/health/live", "/health/ready", "/metrics", "/v2/health/live", "/v2/health/ready", "/" })
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(open)).StatusCode);
    }

    [Fact]
    public async Task Admin_endpoints_need_the_admin_scope()
    {
        var client = await factory.ReadyClientAsync();
        await Problems.AssertProblemAsync(await client.PostAsync("/admin/models/reload", null), HttpStatusCode.Unauthorized);

        var withInferenceKey = new HttpRequestMessage(HttpMethod.Post, "/admin/models/reload") { Headers = { { "X-API-Key", SecuredServiceFactory.InferenceKey } } };
        Assert.Contains("scope", await Problems.AssertProblemAsync(await client.SendAsync(withInferenceKey), HttpStatusCode.Forbidden));

        var withAdminKey = new HttpRequestMessage(HttpMethod.Post, "/admin/models/reload") { Headers = { { "X-API-Key", SecuredServiceFactory.AdminKey } } };
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(withAdminKey)).StatusCode);
    }

    [Fact]
    public async Task Cors_allows_only_the_configured_origin()
    {
        var client = await factory.ReadyClientAsync();
        foreach (var (origin, allowed) in new[] { (SecuredServiceFactory.Origin, true), ("https://evil.example.com", false) })
        {
            var preflight = new HttpRequestMessage(HttpMethod.Options, "/classify");
            preflight.Headers.Add("Origin", origin);
            preflight.Headers.Add("Access-Control-Request-Method", "POST");
            preflight.Headers.Add("Access-Control-Request-Headers", "x-api-key");
            var response = await client.SendAsync(preflight);
            Assert.Equal(allowed, response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) && values.Single() == origin);
        }
    }
}

public class ResponseHeaderTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    [Fact]
    public async Task Responses_are_hardened_and_cors_is_closed_by_default()
    {
        var client = await factory.ReadyClientAsync();
        foreach (var path in new[] { "/health/live", "/models", "/", "/nope" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
            Assert.False(response.Headers.Contains("Server"));
        }
        var preflight = new HttpRequestMessage(HttpMethod.Options, "/classify");
        preflight.Headers.Add("Origin", "https://anywhere.example.com");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        Assert.False((await client.SendAsync(preflight)).Headers.Contains("Access-Control-Allow-Origin"));
    }
}

public sealed class RateLimitedServiceFactory : ServiceFactory
{
    protected override IDictionary<string, string?> Settings
    {
        get
        {
            var settings = base.Settings;
            settings["Security:RateLimit:Enabled"] = "true";
            settings["Security:RateLimit:PermitsPerSecond"] = "1";
            settings["Security:RateLimit:Burst"] = "3";
            settings["Security:RateLimit:RefillPeriod"] = "01:00:00"; // no refill while the test runs, however slow the machine
            return settings;
        }
    }
}

public class RateLimitTests(RateLimitedServiceFactory factory) : IClassFixture<RateLimitedServiceFactory>
{
    [Fact]
    public async Task A_client_over_its_budget_gets_429_with_retry_after_and_health_is_not_limited()
    {
        var client = await factory.ReadyClientAsync();
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (int i = 0; i < 6; i++)
        {
            var response = await client.GetAsync("/models");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited ??= response;
        }
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.NotNull(limited);
        await Problems.AssertProblemAsync(limited!, HttpStatusCode.TooManyRequests);
        Assert.True(limited!.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        var v2 = await client.GetAsync("/v2/models/tiny");
        Assert.Equal(HttpStatusCode.TooManyRequests, v2.StatusCode);
        Assert.Contains("budget", JsonDocument.Parse(await v2.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        for (int i = 0; i < 10; i++) Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
    }
}
