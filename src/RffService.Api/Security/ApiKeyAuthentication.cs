using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using RffService.Api.Errors;

namespace RffService.Api.Security;

/// <summary>
/// Authenticates <c>X-API-Key</c> against the SHA-256 hashes in <see cref="SecurityOptions.ApiKeys"/> (fixed-time
/// comparison). No header: no result (401 if the endpoint needs a key); an unknown key: failure (401); a known key
/// without the endpoint's scope: 403.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IOptions<SecurityOptions> security) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Header = "X-API-Key";
    public const string ScopeClaim = "scope";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(Header, out var values) || string.IsNullOrEmpty(values.ToString()))
            return Task.FromResult(AuthenticateResult.NoResult());
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(values.ToString()));
        foreach (var key in security.Value.ApiKeys)
        {
            if (!TryHex(key.Sha256, out var expected) || !CryptographicOperations.FixedTimeEquals(hash, expected)) continue;
            var claims = new List<Claim> { new(ClaimTypes.Name, key.Name) };
            claims.AddRange(key.Scopes.Select(s => new Claim(ScopeClaim, s)));
            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
        }
        return Task.FromResult(AuthenticateResult.Fail("Unknown API key."));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = $"{SchemeName} header=\"{Header}\"";
        return ProblemExceptionHandler.WriteAsync(Context, new ProblemDetails
        {
            Status = StatusCodes.Status401Unauthorized,
            Title = "Unauthorized",
            Detail = $"This endpoint needs an API key: send it in the {Header} header.",
        }, Context.RequestAborted);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ProblemExceptionHandler.WriteAsync(Context, new ProblemDetails
        {
            Status = StatusCodes.Status403Forbidden,
            Title = "Forbidden",
            Detail = "This API key does not have the scope this endpoint needs.",
        }, Context.RequestAborted);

    private static bool TryHex(string text, out byte[] bytes)
    {
        try
        {
            bytes = Convert.FromHexString(text);
            return bytes.Length == 32;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
