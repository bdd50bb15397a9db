namespace RffService.Api.Security;

/// <summary>Access control and abuse limits (configuration section "Security"). Everything is off by default, for local use.</summary>
public sealed class SecurityOptions
{
    public const string Section = "Security";

    /// <summary>
    /// Accepted API keys, by the hex SHA-256 of the key (never the key itself). When the list is empty, no key is needed.
    /// When it is not, inference and model endpoints need a key with scope "inference" and admin endpoints one with
    /// scope "admin"; health and metrics never need one.
    /// </summary>
    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    /// <summary>Origins allowed to call the API from a browser (CORS). Empty: closed (no CORS headers).</summary>
    public List<string> CorsOrigins { get; set; } = [];

    public RateLimitOptions RateLimit { get; set; } = new();

    public bool RequiresKeys => ApiKeys.Count > 0;
}

public sealed class ApiKeyOptions
{
    /// <summary>Who holds the key (logged and used as the rate-limit partition; the key never is).</summary>
    public string Name { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of the key: <c>printf %s "$KEY" | sha256sum</c>.</summary>
    public string Sha256 { get; set; } = "";

    /// <summary>inference, admin.</summary>
    public List<string> Scopes { get; set; } = ["inference"];
}

/// <summary>A token bucket per client (API key name, else remote address) on the inference endpoints.</summary>
public sealed class RateLimitOptions
{
    public bool Enabled { get; set; }
    /// <summary>Requests a client may make per second on average.</summary>
    public int PermitsPerSecond { get; set; } = 50;
    /// <summary>Requests a client may make at once (the bucket size).</summary>
    public int Burst { get; set; } = 100;
    /// <summary>How often the bucket is refilled, with PermitsPerSecond x the period's seconds (default every second).</summary>
    public TimeSpan RefillPeriod { get; set; } = TimeSpan.FromSeconds(1);
}
