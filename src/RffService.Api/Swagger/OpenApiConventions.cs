using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.OpenApi;
using RffService.Api.OpenInference;
using RffService.Api.Security;
using RffService.Inference.Explanations;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace RffService.Api.Swagger;

/// <summary>
/// What the document says of the whole service: the server (relative: the document is served by the service itself),
/// and tag descriptions. The API key scheme is registered in <see cref="SwaggerSetup"/>.
/// </summary>
internal sealed class ServiceDocumentFilter : IDocumentFilter
{
    public const string ApiKeyScheme = "ApiKey";

    public static readonly IReadOnlyDictionary<string, string> Tags = new Dictionary<string, string>
    {
        ["Inference"] = "Classification and detection of images.",
        ["Explanations"] = "Class activation maps of a classification or of one detection, as PNG overlays.",
        ["Models"] = "The model repository: what is served, its inputs, layers and explanations.",
        ["Health"] = "Liveness and readiness probes.",
        ["Admin"] = "Operations on the model repository (admin scope).",
        ["Open Inference Protocol (v2)"] = "KServe's Open Inference Protocol over REST; errors use the protocol's {\"error\"} body.",
    };

    public void Apply(OpenApiDocument document, DocumentFilterContext context)
    {
        document.Servers = [new OpenApiServer { Url = "/", Description = "The service that serves this document" }];
        var used = document.Paths.Values.SelectMany(p => p.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>()).SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>())
            .Select(t => t.Name).ToHashSet();
        document.Tags = Tags.Where(t => used.Contains(t.Key)).Select(t => new OpenApiTag { Name = t.Key, Description = t.Value }).ToHashSet();
    }
}

/// <summary>
/// What every operation can answer besides its own results, in the form its route uses (problem details, or the
/// protocol's error body on /v2): 400 for a malformed request, 504 past Api:RequestTimeout, and 401/403/429 where an
/// API key and rate limits apply; no security on the open endpoints; enums for the explanation parameters; a
/// single result or an array for batch endpoints; the inference request body of /v2.
/// </summary>
internal sealed class ServiceOperationFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        string path = "/" + (context.ApiDescription.RelativePath ?? "");
        bool protocol = path.StartsWith("/v2", StringComparison.Ordinal);
        bool open = context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<IAllowAnonymous>().Any();
        var error = protocol
            ? ("application/json", context.SchemaGenerator.GenerateSchema(typeof(ErrorResponse), context.SchemaRepository))
            : ("application/problem+json", context.SchemaGenerator.GenerateSchema(typeof(ProblemDetails), context.SchemaRepository));

        operation.Responses ??= new OpenApiResponses();
        Add("400", "The request is malformed (or its parameters are invalid).");
        Add("504", "The request took longer than Api:RequestTimeout and was cancelled.");
        if (open) operation.Security = [];
        else
        {
            Add("401", $"An API key is configured and the request has none, or an unknown one, in {ApiKeyAuthenticationHandler.Header}.");
            Add("403", "The API key lacks the scope this endpoint needs.");
            Add("429", "The client has used its request budget (Security:RateLimit); see Retry-After.");
        }

        foreach (var parameter in operation.Parameters ?? [])
        {
            IEnumerable<string>? values = parameter.Name switch
            {
                "method" => CamMethod.All.Keys.Order(),
                "colormap" => Colormap.ByName.Keys.Order(),
                "baseline" => ["blank", "none"],
                _ => null,
            };
            if (values is not null && parameter is OpenApiParameter writable)
                writable.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Enum = values.Select(v => (System.Text.Json.Nodes.JsonNode)v!).ToList() };
        }

        if (context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<BatchResultMetadata>().FirstOrDefault() is { } batch
            && operation.Responses.TryGetValue("200", out var ok) && ok is OpenApiResponse okResponse)
        {
            var single = context.SchemaGenerator.GenerateSchema(batch.ResultType, context.SchemaRepository);
            okResponse.Content!["application/json"] = new OpenApiMediaType
            {
                Schema = new OpenApiSchema { OneOf = [single, new OpenApiSchema { Type = JsonSchemaType.Array, Items = single }] },
            };
            okResponse.Description = "One image: one result; a batch: an array of results, in order.";
        }

        if (protocol && context.ApiDescription.HttpMethod == "POST")
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "The protocol's inference request as JSON (read whatever the Content-Type).",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/json"] = new() { Schema = context.SchemaGenerator.GenerateSchema(typeof(InferRequestDocument), context.SchemaRepository) },
                },
            };

        void Add(string status, string description)
        {
            if (operation.Responses.ContainsKey(status)) return;
            operation.Responses[status] = new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType> { [error.Item1] = new() { Schema = error.Item2 } },
            };
        }
    }
}

/// <summary>Marks an endpoint that answers one result for one image and an array for a batch.</summary>
public sealed record BatchResultMetadata(Type ResultType);

/// <summary>
/// The inference request of the Open Inference Protocol as documented (the parser, <see cref="InferRequest"/>, reads it
/// leniently): an optional id, one input tensor, optional requested outputs and parameters.
/// </summary>
/// <param name="Id">Returned in the response.</param>
/// <param name="Inputs">One tensor: FP32 data as the model takes it, or BYTES base64-encoded images of shape [N].</param>
/// <param name="Outputs">The outputs to return (all when absent).</param>
/// <param name="Parameters">score_threshold, iou_threshold, max_detections for detectors.</param>
public sealed record InferRequestDocument(string? Id, IReadOnlyList<InferTensorDocument> Inputs, IReadOnlyList<RequestedOutputDocument>? Outputs,
    IReadOnlyDictionary<string, double>? Parameters);

/// <param name="Name">The model's input name (FP32) or any name (BYTES).</param>
/// <param name="Shape">Dimensions; the data holds their product of elements.</param>
/// <param name="Datatype">FP32 or BYTES.</param>
/// <param name="Data">The elements, flat or nested row-major: numbers for FP32, base64 strings for BYTES.</param>
public sealed record InferTensorDocument(string Name, IReadOnlyList<long> Shape, string Datatype, IReadOnlyList<object> Data);

/// <param name="Name">An output name from the model metadata.</param>
public sealed record RequestedOutputDocument(string Name);

/// <summary>A property of type object (any JSON value) is documented as such, not as a null-only schema.</summary>
internal sealed class AnyValueSchemaFilter : ISchemaFilter
{
    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        foreach (var property in schema.Properties?.Values ?? [])
            if (property is OpenApiSchema { Type: JsonSchemaType.Null } any)
                any.Type = null;
            else if (property is OpenApiSchema { Items: OpenApiSchema { Type: JsonSchemaType.Null } items })
                items.Type = null;
    }
}
