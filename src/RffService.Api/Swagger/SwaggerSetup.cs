using System.Reflection;

namespace RffService.Api.Swagger;

public static class SwaggerSetup
{
    public static IServiceCollection AddRffSwagger(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(swagger =>
        {
            swagger.SwaggerDoc("v1", new Microsoft.OpenApi.OpenApiInfo
            {
                Title = "RffService",
                Version = "v1",
                Description = "Inference service for RFF-CNN classifiers (random Fourier features in convolutional form) and SSD detectors on " +
                              "ONNX Runtime, with class activation map explanations.",
            });
            foreach (var assembly in new[] { Assembly.GetExecutingAssembly().GetName().Name, "RffService.Inference", "RffService.Vision" })
            {
                string xml = Path.Combine(AppContext.BaseDirectory, $"{assembly}.xml");
                if (File.Exists(xml)) swagger.IncludeXmlComments(xml);
            }
            // Optional: a key is required only when Security:ApiKeys is configured (inference scope, or admin for /admin).
            swagger.AddSecurityDefinition(ServiceDocumentFilter.ApiKeyScheme, new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.ApiKey,
                In = Microsoft.OpenApi.ParameterLocation.Header,
                Name = Security.ApiKeyAuthenticationHandler.Header,
                Description = "Needed only when the service is configured with API keys (Security:ApiKeys); inference scope, or admin for /admin.",
            });
            swagger.AddSecurityRequirement(document => new Microsoft.OpenApi.OpenApiSecurityRequirement
            {
                [new Microsoft.OpenApi.OpenApiSecuritySchemeReference(ServiceDocumentFilter.ApiKeyScheme, document)] = [],
            });
            swagger.OperationFilter<ImageRequestBodyFilter>();
            swagger.OperationFilter<ServiceOperationFilter>();
            swagger.DocumentFilter<ServiceDocumentFilter>();
            swagger.SchemaFilter<AnyValueSchemaFilter>();
        });
        return services;
    }

    public static WebApplication UseRffSwagger(this WebApplication app)
    {
        app.UseSwagger();
        app.UseSwaggerUI(ui =>
        {
            ui.SwaggerEndpoint("/swagger/v1/swagger.json", "RffService v1");
            ui.DocumentTitle = "RffService API";
        });
        return app;
    }
}
