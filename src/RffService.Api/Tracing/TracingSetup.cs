using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RffService.Inference.Monitoring;

namespace RffService.Api.Tracing;

/// <summary>Tracing settings (configuration section "Tracing"). Off by default.</summary>
public sealed class TracingOptions
{
    public const string Section = "Tracing";

    /// <summary>Export OpenTelemetry traces: ASP.NET Core's request spans and the inference core's batch and model-run spans.</summary>
    public bool Enabled { get; set; }

    /// <summary>The OTLP collector, e.g. http://otel-collector:4317 (gRPC) ; when empty, OpenTelemetry's own OTEL_EXPORTER_OTLP_* variables apply.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>"grpc" (default) or "http/protobuf".</summary>
    public string OtlpProtocol { get; set; } = "grpc";
}

/// <summary>Registers OpenTelemetry tracing when <see cref="TracingOptions.Enabled"/>; nothing otherwise.</summary>
public static class TracingSetup
{
    public static IServiceCollection AddRffTracing(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(TracingOptions.Section).Get<TracingOptions>() ?? new TracingOptions();
        if (!options.Enabled) return services;
        if (options.OtlpProtocol is not ("grpc" or "http/protobuf"))
            throw new InvalidOperationException($"Tracing:OtlpProtocol must be 'grpc' or 'http/protobuf', got '{options.OtlpProtocol}'.");
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("rffservice", serviceVersion: typeof(TracingSetup).Assembly.GetName().Version?.ToString(3)))
            .WithTracing(tracing => tracing
                .AddSource(InferenceTracing.SourceName)
                // Probes and scrapes would drown the traces of real requests.
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/health") && !context.Request.Path.StartsWithSegments("/metrics"))
                .AddOtlpExporter(otlp =>
                {
                    if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint)) otlp.Endpoint = new Uri(options.OtlpEndpoint);
                    otlp.Protocol = options.OtlpProtocol == "grpc" ? OpenTelemetry.Exporter.OtlpExportProtocol.Grpc : OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
                }));
        return services;
    }
}
