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
            swagger.OperationFilter<ImageRequestBodyFilter>();
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
