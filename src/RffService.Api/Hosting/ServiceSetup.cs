using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.Json;
using Prometheus;
using RffService.Api.Endpoints;
using RffService.Api.Errors;
using RffService.Api.Health;
using RffService.Api.Input;
using RffService.Api.Metrics;
using RffService.Api.OpenInference;
using RffService.Api.Security;
using RffService.Api.Swagger;
using RffService.Api.Tracing;
using RffService.Inference.Hosting;
using RffService.Inference.Models;
using RffService.Inference.Monitoring;
using Serilog;

namespace RffService.Api.Hosting;

/// <summary>The service's composition: what Program.cs registers, the middleware order, and the endpoints.</summary>
public static class ServiceSetup
{
    public static WebApplicationBuilder AddRffService(this WebApplicationBuilder builder)
    {
        // The default address lives here, not in appsettings.json: a "Urls" there would override ASPNETCORE_URLS (the
        // container's 0.0.0.0:8080), since appsettings loads after the ASPNETCORE_ environment variables.
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
            builder.WebHost.UseUrls(ServiceDefaults.DefaultUrls);

        var services = builder.Services;
        services.AddSerilog((provider, logger) => logger
            // A readiness probe answered 503 while models load is expected, not an error: the request line says it (at
            // Information), and the health check service's own Error line for it is left out.
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", Serilog.Events.LogEventLevel.Fatal)
            .ReadFrom.Configuration(builder.Configuration)
            .ReadFrom.Services(provider)
            .Enrich.FromLogContext());
        services.AddOptions<ApiOptions>()
            .Bind(builder.Configuration.GetSection(ApiOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddRffInference(builder.Configuration);
        services.AddSingleton<ImageRequestReader>();
        services.AddRffSecurity(builder.Configuration);
        services.AddRffTracing(builder.Configuration);
        services.AddSingleton<PrometheusMetrics>();
        services.AddSingleton<IInferenceMetrics>(provider => provider.GetRequiredService<PrometheusMetrics>());

        // Nothing the service sends is protected (no cookies, no antiforgery tokens; API keys are compared, not
        // decrypted), so DataProtection's keys live in memory: no key folder under HOME, no warnings at start.
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.Configure<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>(o =>
        {
            o.XmlRepository = new InMemoryXmlRepository();
            o.XmlEncryptor = new Microsoft.AspNetCore.DataProtection.XmlEncryption.NullXmlEncryptor();
        });
        services.AddProblemDetails();
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(o => o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var api = context.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
            kestrel.Limits.MaxRequestBodySize = api.MaxRequestBytes;
            kestrel.Limits.MaxConcurrentConnections = api.MaxConcurrentConnections;
            kestrel.Limits.RequestHeadersTimeout = api.RequestHeadersTimeout;
            kestrel.AddServerHeader = false;
            // gRPC without TLS needs HTTP/2 with prior knowledge: the gRPC port's listener speaks nothing else.
            if (api.GrpcPort > 0)
                kestrel.ConfigureEndpointDefaults(listen =>
                {
                    if (listen.IPEndPoint?.Port == api.GrpcPort) listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2;
                });
        });
        services.AddGrpc(grpc =>
        {
            var api = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
            grpc.MaxReceiveMessageSize = (int)Math.Min(api.MaxRequestBytes, int.MaxValue);
            grpc.Interceptors.Add<UnhandledExceptionInterceptor>();
        });
        services.AddSingleton<OpenInferenceService>();
        services.AddHealthChecks().AddCheck<ModelsReadyHealthCheck>("models", tags: [HealthEndpoints.ReadyTag]);
        services.AddRffSwagger();
        return builder;
    }

    public static WebApplication UseRffService(this WebApplication app)
    {
        app.UseRffRequestLogging(); // outermost, so it logs the status the client finally gets
        app.UseRffRequestMetrics();
        app.UseSecurityHeaders();
        app.UseJsonNewline(); // outside the exception handler, so problem details end with a newline too
        app.UseExceptionHandler();
        app.UseStatusCodePages(status => ProblemExceptionHandler.WriteStatusAsync(status.HttpContext));
        app.UseCors();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseRequestTimeouts();
        app.UseDefaultFiles(); // / -> the demo page (wwwroot/index.html)
        app.UseStaticFiles();
        app.UseRffSwagger();
        app.Logger.LogInformation("Model repository: {Path}", app.Services.GetRequiredService<ModelRepository>().RootPath);
        app.Lifetime.ApplicationStarted.Register(() => ReportGrpcListener(app));
        return app;
    }

    /// <summary>Says at start whether the gRPC port is listened on: Kestrel listens on the configured addresses only, so a port missing from them means no gRPC.</summary>
    private static void ReportGrpcListener(WebApplication app)
    {
        int port = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.GrpcPort;
        if (port <= 0) return;
        var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses ?? [];
        if (addresses.Count == 0 || addresses.Any(a => Uri.TryCreate(a.Replace("*", "localhost").Replace("+", "localhost"), UriKind.Absolute, out var uri) && uri.Port == port))
            app.Logger.LogInformation("gRPC (Open Inference Protocol) on port {Port}, HTTP/2 only", port);
        else
            app.Logger.LogWarning("gRPC (Open Inference Protocol) is off: Api:GrpcPort is {Port} but the service listens only on {Addresses}. " +
                                  "Add http://0.0.0.0:{Port} to the listening addresses (ASPNETCORE_URLS, --urls or Kestrel:Endpoints), or set Api:GrpcPort=0",
                port, string.Join(", ", addresses), port);
    }

    public static WebApplication MapRffEndpoints(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<SecurityOptions>>().Value;
        app.MapHealthEndpoints();
        var inference = app.MapGroup("").RequireInferenceAccess(security).AddEndpointFilter<ModelLogContextFilter>();
        inference.MapModelEndpoints();
        inference.MapClassifyEndpoints();
        inference.MapDetectEndpoints();
        inference.MapCamEndpoints();
        inference.MapOpenInferenceEndpoints();
        inference.MapGrpcService<OpenInferenceGrpcService>().WithTags("Open Inference Protocol (v2), gRPC");
        app.MapGroup("").RequireAdminAccess(security).MapAdminEndpoints();
        app.MapMetrics("/metrics", app.Services.GetRequiredService<PrometheusMetrics>().Registry)
            .WithTags("Operations").WithSummary("Prometheus metrics (text exposition format)");
        return app;
    }
}
