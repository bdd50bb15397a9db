using System.Text.Json.Nodes;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace RffService.Api.Swagger;

/// <summary>Marks an endpoint whose body is an image in any of the three accepted forms.</summary>
public sealed class ImageRequestBodyMetadata;

/// <summary>
/// Documents the image body of marked endpoints: a multipart upload form (which Swagger UI renders with a file
/// picker), raw image bodies, and base64 JSON, each with an example.
/// </summary>
internal sealed class ImageRequestBodyFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (!context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<ImageRequestBodyMetadata>().Any()) return;

        var binary = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
        var content = new Dictionary<string, OpenApiMediaType>
        {
            ["multipart/form-data"] = new()
            {
                Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Required = new HashSet<string> { "image" },
                    Properties = new Dictionary<string, IOpenApiSchema>
                    {
                        ["image"] = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Array,
                            Items = binary,
                            Description = "One or more image files (PNG, JPEG, WebP, BMP, GIF). Several files make a batch.",
                        },
                    },
                },
            },
            ["application/json"] = new()
            {
                Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Description = "Either 'image' (one base64 image) or 'images' (an array of them). Data URLs are accepted.",
                    Properties = new Dictionary<string, IOpenApiSchema>
                    {
                        ["image"] = new OpenApiSchema { Type = JsonSchemaType.String, Format = "byte" },
                        ["images"] = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String, Format = "byte" } },
                    },
                },
                // A 1x1 black PNG.
                Example = new JsonObject { ["image"] = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==" },
            },
        };
        foreach (var type in new[] { "image/png", "image/jpeg", "image/webp", "image/bmp", "image/gif" })
            content[type] = new OpenApiMediaType { Schema = binary };

        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The image(s) to run the model on. Limits: request body size and image pixel count (see README).",
            Content = content,
        };
    }
}
