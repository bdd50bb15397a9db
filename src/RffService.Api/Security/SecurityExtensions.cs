using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Timeouts;
using RffService.Api.Errors;

namespace RffService.Api.Security;

/// <summary>API keys, CORS, per-client rate limits, request timeouts and hardened response headers.</summary>
public static class SecurityExtensions
{
    public const string InferencePolicy = "inference";
    public const string AdminPolicy = "admin";
    public const string RateLimitPolicy = "per-client";

    public static IServiceCollection AddRffSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SecurityOptions>().Bind(configuration.GetSection(SecurityOptions.Section))
            .Validate(o => o.ApiKeys.All(k => !string.IsNullOrWhiteSpace(k.Name) && k.Sha256.Length == 64 && k.Sha256.All(Uri.IsHexDigit)),
                "Security:ApiKeys: every key needs a Name and a Sha256 of 64 hex digits (the hash of the key, never the key).")
            .Validate(o => !o.RateLimit.Enabled || (o.RateLimit.PermitsPerSecond > 0 && o.RateLimit.Burst > 0 && o.RateLimit.RefillPeriod >= TimeSpan.FromMilliseconds(1)),
                "Security:RateLimit: PermitsPerSecond and Burst must be > 0, RefillPeriod at least 1 ms.")
            .ValidateOnStart();

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(InferencePolicy, p => p.RequireClaim(ApiKeyAuthenticationHandler.ScopeClaim, "inference", "admin"))
            .AddPolicy(AdminPolicy, p => p.RequireClaim(ApiKeyAuthenticationHandler.ScopeClaim, "admin"));

        // Options read when first used (not now): test hosts and other configuration sources are applied after this runs.
        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>().Configure<Microsoft.Extensions.Options.IOptions<SecurityOptions>>((cors, options) =>
            cors.AddDefaultPolicy(policy =>
            {
                if (options.Value.CorsOrigins.Count > 0)
                    policy.WithOrigins([.. options.Value.CorsOrigins]).WithMethods("GET", "POST").WithHeaders("Content-Type", ApiKeyAuthenticationHandler.Header);
            }));

        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.AddPolicy(RateLimitPolicy, context =>
            {
                string client = context.User.Identity?.IsAuthenticated == true
                    ? "key:" + context.User.Identity.Name
                    : "ip:" + context.Connection.RemoteIpAddress;
                var options = context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<SecurityOptions>>().Value.RateLimit;
                return RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.Burst,
                    TokensPerPeriod = Math.Max(1, (int)Math.Round(options.PermitsPerSecond * options.RefillPeriod.TotalSeconds)),
                    ReplenishmentPeriod = options.RefillPeriod,
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                string retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry)
                    ? Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) : "1";
                await ProblemExceptionHandler.WriteAsync(context.HttpContext, new Microsoft.AspNetCore.Mvc.ProblemDetails
                {
                    Status = StatusCodes.Status429TooManyRequests,
                    Title = "Too many requests",
                    Detail = "This client has used its request budget (Security:RateLimit); retry after the Retry-After delay.",
                }, cancellationToken, retryAfter);
            };
        });

        services.AddRequestTimeouts();
        services.AddOptions<RequestTimeoutOptions>().Configure<Microsoft.Extensions.Options.IOptions<ApiOptions>>((timeouts, api) =>
            timeouts.DefaultPolicy = new RequestTimeoutPolicy { Timeout = api.Value.RequestTimeout, TimeoutStatusCode = StatusCodes.Status504GatewayTimeout });
        services.AddOptions<HostOptions>().Configure<Microsoft.Extensions.Options.IOptions<ApiOptions>>((host, api) => host.ShutdownTimeout = api.Value.ShutdownTimeout);
        return services;
    }

    /// <summary>The endpoints that do inference or describe models: an API key with scope inference (when keys are configured), rate limited (when on).</summary>
    public static TBuilder RequireInferenceAccess<TBuilder>(this TBuilder builder, SecurityOptions security) where TBuilder : IEndpointConventionBuilder
    {
        if (security.RequiresKeys) builder.RequireAuthorization(InferencePolicy);
        if (security.RateLimit.Enabled) builder.RequireRateLimiting(RateLimitPolicy);
        return builder;
    }

    public static TBuilder RequireAdminAccess<TBuilder>(this TBuilder builder, SecurityOptions security) where TBuilder : IEndpointConventionBuilder
    {
        if (security.RequiresKeys) builder.RequireAuthorization(AdminPolicy);
        return builder;
    }

    /// <summary>nosniff, no framing, no referrer, on every response (Kestrel's Server header is off); set as the response starts, so error paths that reset headers keep them.</summary>
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        context.Response.OnStarting(() =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            return Task.CompletedTask;
        });
        return next(context);
    });
}
