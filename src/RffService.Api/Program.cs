using System.Reflection;
using Microsoft.AspNetCore.Http.Json;
using RffService.Api;
using RffService.Api.Endpoints;
using RffService.Api.Errors;
using RffService.Api.Health;
using RffService.Api.Input;
using RffService.Api.Metrics;
using RffService.Api.Security;
using RffService.Api.OpenInference;
using Prometheus;
using RffService.Api.Swagger;
using RffService.Inference;
using RffService.Inference.Models;
using Serilog;

if (args.Contains(HealthProbe.Flag)) return HealthProbe.Run(args);

var builder = WebApplication.CreateBuilder(args);
// The default address lives here, not in appsettings.json: a "Urls" there would override ASPNETCORE_URLS (the
// container's 0.0.0.0:8080), since appsettings loads after the ASPNETCORE_ environment variables.
if (string.IsNullOrEmpty(builder.Configuration["urls"])) builder.WebHost.UseUrls("http://localhost:5080");

builder.Services.AddSerilog((services, logger) => logger
    .ReadFrom.Configuration(builder.Configuration)
    .ReadFrom.Services(services)
    .Enrich.FromLogContext());

builder.Services.AddOptions<ApiOptions>()
    .Bind(builder.Configuration.GetSection(ApiOptions.Section))
    .ValidateDataAnnotations()
    .ValidateOnStart();
builder.Services.AddRffInference(builder.Configuration);
builder.Services.AddSingleton<ImageRequestReader>();
builder.Services.AddRffSecurity(builder.Configuration);
builder.Services.AddSingleton<PrometheusMetrics>();
builder.Services.AddSingleton<IInferenceMetrics>(services => services.GetRequiredService<PrometheusMetrics>());

builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
builder.Services.Configure<JsonOptions>(o => o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);
builder.WebHost.ConfigureKestrel((context, kestrel) =>
{
    var api = context.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
    kestrel.Limits.MaxRequestBodySize = api.MaxRequestBytes;
    kestrel.Limits.MaxConcurrentConnections = api.MaxConcurrentConnections;
    kestrel.Limits.RequestHeadersTimeout = api.RequestHeadersTimeout;
    kestrel.AddServerHeader = false;
});

builder.Services.AddHealthChecks().AddCheck<ModelsReadyHealthCheck>("models", tags: [HealthEndpoints.ReadyTag]);

builder.Services.AddEndpointsApiExplorer();
builder.Services.AddSwaggerGen(swagger =>
{
    swagger.SwaggerDoc("v1", new Microsoft.OpenApi.OpenApiInfo
    {
        Title = "RffService",
        Version = "v1",
        Description = "Inference service for RFF-CNN classifiers (random Fourier features in convolutional form) on ONNX Runtime, " +
                      "with class activation map explanations.",
    });
    foreach (var assembly in new[] { Assembly.GetExecutingAssembly().GetName().Name, "RffService.Inference" })
    {
        string xml = Path.Combine(AppContext.BaseDirectory, $"{assembly}.xml");
        if (File.Exists(xml)) swagger.IncludeXmlComments(xml);
    }
    swagger.OperationFilter<ImageRequestBodyFilter>();
});

var app = builder.Build();

app.UseRffRequestLogging(); // outermost, so it logs the status the client finally gets
app.UseRffRequestMetrics();
app.UseSecurityHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages(async status =>
{
    var context = status.HttpContext;
    await ProblemExceptionHandler.WriteAsync(context, new Microsoft.AspNetCore.Mvc.ProblemDetails
    {
        Status = context.Response.StatusCode,
        Title = StatusTitle(context.Response.StatusCode),
        Detail = context.Response.StatusCode switch
        {
            404 => $"There is no endpoint at {context.Request.Method} {context.Request.Path}. See /swagger.",
            401 => $"This endpoint needs an API key: send it in the {ApiKeyAuthenticationHandler.Header} header.",
            403 => "This API key does not have the scope this endpoint needs.",
            504 => "The request took longer than Api:RequestTimeout and was cancelled.",
            _ => $"The request failed with status {context.Response.StatusCode}.",
        },
    }, context.RequestAborted);
});

app.UseCors();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();
app.UseRequestTimeouts();
app.UseDefaultFiles(); // / -> the demo page (wwwroot/index.html)
app.UseStaticFiles();
app.UseSwagger();
app.UseSwaggerUI(ui =>
{
    ui.SwaggerEndpoint("/swagger/v1/swagger.json", "RffService v1");
    ui.DocumentTitle = "RffService API";
});

var security = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<SecurityOptions>>().Value;
app.MapHealthEndpoints();
var inference = app.MapGroup("").RequireInferenceAccess(security);
inference.MapModelEndpoints();
inference.MapClassifyEndpoints();
inference.MapDetectEndpoints();
inference.MapCamEndpoints();
inference.MapOpenInferenceEndpoints();
app.MapGroup("").RequireAdminAccess(security).MapAdminEndpoints();
app.MapMetrics("/metrics", app.Services.GetRequiredService<PrometheusMetrics>().Registry).WithTags("Operations").WithSummary("Prometheus metrics (text exposition format)");

app.Logger.LogInformation("Model repository: {Path}", app.Services.GetRequiredService<ModelRepository>().RootPath);
app.Run();
return 0;

static string StatusTitle(int status) => status switch
{
    401 => "Unauthorized",
    403 => "Forbidden",
    404 => "Not found",
    405 => "Method not allowed",
    504 => "Request timed out",
    _ => "Request failed",
};

/// <summary>Entry point; public so integration tests can host the app.</summary>
public partial class Program;
