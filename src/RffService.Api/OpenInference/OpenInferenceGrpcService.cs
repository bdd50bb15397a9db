using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using G = RffService.Api.OpenInference.Grpc;
using RffService.Vision;

namespace RffService.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol's gRPC service (<c>inference.GRPCInferenceService</c>), translating its messages to the
/// same <see cref="OpenInferenceService"/> the REST routes use. Input tensors come as typed <c>contents</c> or as
/// <c>raw_input_contents</c> (FP32 little-endian; BYTES as 4-byte little-endian lengths each followed by the element);
/// outputs go back as typed contents. Errors are gRPC status codes with the service's message.
/// </summary>
public sealed class OpenInferenceGrpcService(OpenInferenceService oip) : G.GRPCInferenceService.GRPCInferenceServiceBase
{
    [Microsoft.AspNetCore.Authorization.AllowAnonymous, Microsoft.AspNetCore.RateLimiting.DisableRateLimiting] // open like /health and /v2/health
    public override Task<G.ServerLiveResponse> ServerLive(G.ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new G.ServerLiveResponse { Live = true });

    [Microsoft.AspNetCore.Authorization.AllowAnonymous, Microsoft.AspNetCore.RateLimiting.DisableRateLimiting] // open like /health and /v2/health
    public override Task<G.ServerReadyResponse> ServerReady(G.ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new G.ServerReadyResponse { Ready = oip.ServerReady().Ready });

    public override Task<G.ModelReadyResponse> ModelReady(G.ModelReadyRequest request, ServerCallContext context)
    {
        try
        {
            oip.ReadyModel(request.Name, Version(request.Version));
            return Task.FromResult(new G.ModelReadyResponse { Ready = true });
        }
        catch (InferenceException ex) when (ex.Kind == ErrorKind.Unavailable)
        {
            return Task.FromResult(new G.ModelReadyResponse { Ready = false });
        }
        catch (InferenceException ex)
        {
            throw Status(ex);
        }
    }

    [Microsoft.AspNetCore.Authorization.AllowAnonymous, Microsoft.AspNetCore.RateLimiting.DisableRateLimiting] // open like /health and /v2/health
    public override Task<G.ServerMetadataResponse> ServerMetadata(G.ServerMetadataRequest request, ServerCallContext context)
    {
        var metadata = oip.ServerMetadata();
        return Task.FromResult(new G.ServerMetadataResponse { Name = metadata.Name, Version = metadata.Version, Extensions = { metadata.Extensions } });
    }

    public override Task<G.ModelMetadataResponse> ModelMetadata(G.ModelMetadataRequest request, ServerCallContext context)
    {
        try
        {
            var metadata = oip.ModelMetadata(request.Name, Version(request.Version));
            var response = new G.ModelMetadataResponse { Name = metadata.Name, Platform = metadata.Platform, Versions = { metadata.Versions } };
            response.Inputs.AddRange(metadata.Inputs.Select(Tensor));
            response.Outputs.AddRange(metadata.Outputs.Select(Tensor));
            return Task.FromResult(response);
        }
        catch (InferenceException ex)
        {
            throw Status(ex);
        }
    }

    public override async Task<G.ModelInferResponse> ModelInfer(G.ModelInferRequest request, ServerCallContext context)
    {
        try
        {
            var result = await oip.InferAsync(request.ModelName, Version(request.ModelVersion), Read(request), context.CancellationToken);
            var response = new G.ModelInferResponse { ModelName = result.ModelName, ModelVersion = result.ModelVersion, Id = result.Id ?? "" };
            foreach (var (key, value) in result.Parameters ?? new Dictionary<string, string>())
                response.Parameters[key] = new G.InferParameter { StringParam = value };
            if (request.RawInputContents.Count > 0)
            {
                // Raw in, raw out (as Triton answers): each output's metadata, its data in raw_output_contents, in order.
                response.Outputs.AddRange(result.Outputs.Select(t => new G.ModelInferResponse.Types.InferOutputTensor { Name = t.Name, Datatype = t.Datatype, Shape = { t.Shape } }));
                response.RawOutputContents.AddRange(result.Outputs.Select(Raw));
            }
            else
                response.Outputs.AddRange(result.Outputs.Select(Write));
            return response;
        }
        catch (InferenceException ex)
        {
            throw Status(ex);
        }
    }

    private static string? Version(string version) => string.IsNullOrEmpty(version) ? null : version;

    private static G.ModelMetadataResponse.Types.TensorMetadata Tensor(TensorMetadata tensor) =>
        new() { Name = tensor.Name, Datatype = tensor.Datatype, Shape = { tensor.Shape } };

    /// <summary>The protocol-neutral request: typed contents or raw bytes per input, parameters as invariant text.</summary>
    public static InferRequest Read(G.ModelInferRequest request)
    {
        if (request.RawInputContents.Count > 0 && request.RawInputContents.Count != request.Inputs.Count)
            throw Bad($"raw_input_contents has {request.RawInputContents.Count} entries for {request.Inputs.Count} inputs.");
        if (request.RawInputContents.Count > 0 && request.Inputs.FirstOrDefault(HasContents) is { } both)
            throw Bad($"Input '{Text.Shorten(both.Name)}' has typed contents while the request also has raw_input_contents; the protocol allows one or the other.");
        var inputs = request.Inputs.Select((input, i) =>
        {
            long count = input.Shape.Aggregate(1L, (a, b) => a * b);
            if (input.Shape.Any(d => d < 0) || input.Shape.Count > InferRequest.MaxShapeRank)
                throw Bad($"Input '{Text.Shorten(input.Name)}': the shape must have at most {InferRequest.MaxShapeRank} non-negative dimensions.");
            ByteString? raw = request.RawInputContents.Count > 0 ? request.RawInputContents[i] : null;
            return input.Datatype switch
            {
                "FP32" => new RequestTensor(input.Name, input.Datatype, [.. input.Shape], Floats(input, raw, count), null),
                "BYTES" => new RequestTensor(input.Name, input.Datatype, [.. input.Shape], null, Elements(input, raw, count)),
                _ => throw Bad($"Input '{Text.Shorten(input.Name)}': datatype '{Text.Shorten(input.Datatype)}' is not supported; send FP32 tensors or BYTES (encoded images)."),
            };
        }).ToList();
        if (inputs.Count == 0) throw Bad("'inputs' must hold at least one tensor.");
        var parameters = request.Parameters.ToDictionary(p => p.Key, p => p.Value.ParameterChoiceCase switch
        {
            G.InferParameter.ParameterChoiceOneofCase.BoolParam => p.Value.BoolParam ? "true" : "false",
            G.InferParameter.ParameterChoiceOneofCase.Int64Param => p.Value.Int64Param.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => p.Value.StringParam,
        });
        var outputs = request.Outputs.Count > 0 ? request.Outputs.Select(o => o.Name).ToList() : null;
        return new InferRequest(string.IsNullOrEmpty(request.Id) ? null : request.Id, inputs, outputs, parameters);
    }

    private static float[] Floats(G.ModelInferRequest.Types.InferInputTensor input, ByteString? raw, long count)
    {
        if (raw is null)
            return input.Contents?.Fp32Contents.Count == count ? [.. input.Contents.Fp32Contents]
                : throw Bad($"Input '{Text.Shorten(input.Name)}': shape [{string.Join(", ", input.Shape)}] needs {count} fp32_contents; got {input.Contents?.Fp32Contents.Count ?? 0}.");
        if (raw.Length != count * sizeof(float))
            throw Bad($"Input '{Text.Shorten(input.Name)}': shape [{string.Join(", ", input.Shape)}] needs {count * sizeof(float)} raw bytes; got {raw.Length}.");
        var values = new float[count];
        var bytes = raw.Span;
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        return values;
    }

    private static List<byte[]> Elements(G.ModelInferRequest.Types.InferInputTensor input, ByteString? raw, long count)
    {
        List<byte[]> elements;
        if (raw is null)
            elements = input.Contents?.BytesContents.Select(b => b.ToByteArray()).ToList() ?? [];
        else
        {
            elements = [];
            var bytes = raw.Span;
            while (bytes.Length > 0)
            {
                if (bytes.Length < 4) throw Bad($"Input '{Text.Shorten(input.Name)}': raw BYTES end inside an element's 4-byte length.");
                uint length = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
                if (length > bytes.Length - 4) throw Bad($"Input '{Text.Shorten(input.Name)}': a raw BYTES element claims {length} bytes; {bytes.Length - 4} are left.");
                elements.Add(bytes.Slice(4, (int)length).ToArray());
                bytes = bytes[(4 + (int)length)..];
            }
        }
        return elements.Count == count ? elements
            : throw Bad($"Input '{Text.Shorten(input.Name)}': shape [{string.Join(", ", input.Shape)}] needs {count} BYTES elements; got {elements.Count}.");
    }

    private static G.ModelInferResponse.Types.InferOutputTensor Write(ResponseTensor tensor)
    {
        var output = new G.ModelInferResponse.Types.InferOutputTensor { Name = tensor.Name, Datatype = tensor.Datatype, Shape = { tensor.Shape }, Contents = new G.InferTensorContents() };
        switch (tensor.Data)
        {
            case float[] floats: output.Contents.Fp32Contents.AddRange(floats); break;
            case long[] longs: output.Contents.Int64Contents.AddRange(longs); break;
            case string[] strings: output.Contents.BytesContents.AddRange(strings.Select(s => ByteString.CopyFrom(s, Encoding.UTF8))); break;
            default: throw new InvalidOperationException($"output '{tensor.Name}' holds {tensor.Data.GetType().Name}");
        }
        return output;
    }

    private static bool HasContents(G.ModelInferRequest.Types.InferInputTensor input) => input.Contents is { } c &&
        c.Fp32Contents.Count + c.Fp64Contents.Count + c.IntContents.Count + c.Int64Contents.Count + c.UintContents.Count + c.Uint64Contents.Count +
        c.BoolContents.Count + c.BytesContents.Count > 0;

    /// <summary>An output as raw bytes: little-endian FP32 or INT64 values, or BYTES elements each behind a 4-byte little-endian length.</summary>
    private static ByteString Raw(ResponseTensor tensor)
    {
        switch (tensor.Data)
        {
            case float[] floats:
                {
                    var bytes = new byte[floats.Length * 4];
                    for (int i = 0; i < floats.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), floats[i]);
                    return ByteString.CopyFrom(bytes);
                }
            case long[] longs:
                {
                    var bytes = new byte[longs.Length * 8];
                    for (int i = 0; i < longs.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), longs[i]);
                    return ByteString.CopyFrom(bytes);
                }
            case string[] strings:
                {
                    var stream = new MemoryStream();
                    Span<byte> length = stackalloc byte[4];
                    foreach (var text in strings)
                    {
                        var element = Encoding.UTF8.GetBytes(text);
                        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)element.Length);
                        stream.Write(length);
                        stream.Write(element);
                    }
                    return ByteString.CopyFrom(stream.ToArray());
                }
            default:
                throw new InvalidOperationException($"output '{tensor.Name}' holds {tensor.Data.GetType().Name}");
        }
    }

    private static InferenceException Bad(string detail) => new(ErrorKind.BadInput, "Invalid inference request", detail);

    /// <summary>The gRPC status for a service error, with the service's message.</summary>
    public static RpcException Status(InferenceException ex) => new(new Status(ex.Kind switch
    {
        ErrorKind.BadInput or ErrorKind.InvalidParameter or ErrorKind.UnsupportedMedia => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.TooLarge => StatusCode.ResourceExhausted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    }, ex.Message));
}
