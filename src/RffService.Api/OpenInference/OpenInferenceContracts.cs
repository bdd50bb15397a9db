using System.Text.Json.Serialization;

namespace RffService.Api.OpenInference;

/// <summary>GET /v2: server metadata.</summary>
public sealed record ServerMetadataResponse(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("extensions")] IReadOnlyList<string> Extensions);

/// <summary>A tensor's name, data type and shape (-1 for a variable dimension).</summary>
public sealed record TensorMetadata(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("datatype")] string Datatype,
    [property: JsonPropertyName("shape")] IReadOnlyList<long> Shape);

/// <summary>GET /v2/models/{name}: model metadata.</summary>
public sealed record ModelMetadataResponse(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("versions")] IReadOnlyList<string> Versions,
    [property: JsonPropertyName("platform")] string Platform,
    [property: JsonPropertyName("inputs")] IReadOnlyList<TensorMetadata> Inputs,
    [property: JsonPropertyName("outputs")] IReadOnlyList<TensorMetadata> Outputs);

/// <summary>GET /v2/health/live.</summary>
public sealed record ServerLiveResponse([property: JsonPropertyName("live")] bool Live);

/// <summary>GET /v2/health/ready.</summary>
public sealed record ServerReadyResponse([property: JsonPropertyName("ready")] bool Ready);

/// <summary>GET /v2/models/{name}/ready.</summary>
public sealed record ModelReadyResponse(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("ready")] bool Ready);

/// <summary>One output tensor of an inference response; data is flattened in row-major order.</summary>
public sealed record ResponseTensor(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("datatype")] string Datatype,
    [property: JsonPropertyName("shape")] IReadOnlyList<long> Shape,
    [property: JsonPropertyName("data")] object Data);

/// <summary>POST /v2/models/{name}/infer: the response.</summary>
public sealed record InferResponse(
    [property: JsonPropertyName("model_name")] string ModelName,
    [property: JsonPropertyName("model_version")] string ModelVersion,
    [property: JsonPropertyName("id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id,
    [property: JsonPropertyName("outputs")] IReadOnlyList<ResponseTensor> Outputs,
    [property: JsonPropertyName("parameters"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, string>? Parameters = null)
    : RffService.Inference.Common.IModelResult
{
    string RffService.Inference.Common.IModelResult.Model => ModelName;
}

/// <summary>The protocol's error body.</summary>
public sealed record ErrorResponse([property: JsonPropertyName("error")] string Error);
