using System.Buffers.Binary;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using RffService.Api.OpenInference.Grpc;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>The Open Inference Protocol's gRPC service, through a client generated from the same proto, against the REST answers.</summary>
public class OpenInferenceGrpcTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private async Task<GRPCInferenceService.GRPCInferenceServiceClient> ClientAsync()
    {
        await factory.ReadyClientAsync();
        var channel = GrpcChannel.ForAddress(factory.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = factory.Server.CreateHandler() });
        return new GRPCInferenceService.GRPCInferenceServiceClient(channel);
    }

    [Fact]
    public async Task Server_and_model_health_and_metadata()
    {
        var client = await ClientAsync();
        Assert.True((await client.ServerLiveAsync(new ServerLiveRequest())).Live);
        // The default test repository holds a broken model; the ready policy is 'any': ready, like /health/ready.
        Assert.True((await client.ServerReadyAsync(new ServerReadyRequest())).Ready);
        var server = await client.ServerMetadataAsync(new ServerMetadataRequest());
        Assert.Equal("rffservice", server.Name);
        Assert.Contains("parameters", server.Extensions);

        Assert.True((await client.ModelReadyAsync(new ModelReadyRequest { Name = "tiny" })).Ready);
        Assert.False((await client.ModelReadyAsync(new ModelReadyRequest { Name = "broken" })).Ready);
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.ModelReadyAsync(new ModelReadyRequest { Name = "nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        var metadata = await client.ModelMetadataAsync(new ModelMetadataRequest { Name = "tiny", Version = "1" });
        Assert.Equal(("tiny", "onnxruntime_onnx"), (metadata.Name, metadata.Platform));
        Assert.Equal(["input", "image"], metadata.Inputs.Select(i => i.Name));
        Assert.Equal([-1L, 1, 16, 16], metadata.Inputs[0].Shape);
        Assert.Equal(["logits", "probabilities", "class_index", "label"], metadata.Outputs.Select(o => o.Name));
    }

    [Fact]
    public async Task Fp32_contents_and_raw_contents_give_the_rest_answer()
    {
        var client = await ClientAsync();
        var http = factory.CreateClient();
        var values = Enumerable.Range(0, 256).Select(i => MathF.Sin(i) * 2).ToArray();
        var rest = System.Text.Json.JsonDocument.Parse(await (await http.PostAsync("/v2/models/tiny/infer", new StringContent(System.Text.Json.JsonSerializer.Serialize(
            new { inputs = new[] { new { name = "input", shape = new[] { 1, 1, 16, 16 }, datatype = "FP32", data = values } } })))).Content.ReadAsStringAsync())
            .RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();

        var typed = new ModelInferRequest { ModelName = "tiny", Id = "7" };
        typed.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1, 1, 16, 16 }, Contents = new InferTensorContents { Fp32Contents = { values } } });
        var answer = await client.ModelInferAsync(typed);
        Assert.Equal(("tiny", "1", "7"), (answer.ModelName, answer.ModelVersion, answer.Id));
        var output = Assert.Single(answer.Outputs);
        Assert.Equal(("logits", "FP32"), (output.Name, output.Datatype));
        Assert.Equal([1L, 3], output.Shape);
        Assert.Equal(rest, output.Contents.Fp32Contents);

        var raw = new ModelInferRequest { ModelName = "tiny" };
        raw.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1, 1, 16, 16 } });
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        raw.RawInputContents.Add(ByteString.CopyFrom(bytes));
        // Raw in, raw out: the output's metadata in outputs, its values as little-endian FP32 in raw_output_contents.
        var rawAnswer = await client.ModelInferAsync(raw);
        Assert.Equal([1L, 3], rawAnswer.Outputs[0].Shape);
        Assert.Equal(0, rawAnswer.Outputs[0].Contents?.Fp32Contents.Count ?? 0);
        var rawOut = rawAnswer.RawOutputContents[0].ToByteArray();
        Assert.Equal(rest, Enumerable.Range(0, rawOut.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(rawOut.AsSpan(i * 4))).ToArray());

        // Typed contents and raw contents together: the protocol allows one or the other.
        raw.Inputs[0].Contents = new InferTensorContents { Fp32Contents = { values } };
        var both = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(raw).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, both.StatusCode);
        Assert.Contains("one or the other", both.Status.Detail);
    }

    [Fact]
    public async Task Bytes_images_as_contents_or_raw_give_labels_and_detections()
    {
        var client = await ClientAsync();
        var png = TestImages.Png(20, 20);
        var request = new ModelInferRequest { ModelName = "tiny" };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "image", Datatype = "BYTES", Shape = { 1 }, Contents = new InferTensorContents { BytesContents = { ByteString.CopyFrom(png) } } });
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "label" });
        var label = Assert.Single((await client.ModelInferAsync(request)).Outputs);
        Assert.Equal(("label", "BYTES"), (label.Name, label.Datatype));
        Assert.Contains(label.Contents.BytesContents[0].ToStringUtf8(), TestModelRepository.Labels);

        // Raw BYTES: each element as a 4-byte little-endian length and its bytes; detector parameters as strings.
        var raw = new ModelInferRequest { ModelName = "detector", Parameters = { ["score_threshold"] = new InferParameter { StringParam = "0.5" } } };
        raw.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "image", Datatype = "BYTES", Shape = { 2 } });
        var image = TestImages.Png(32, 32, gray: true);
        var element = new byte[4 + image.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(element, (uint)image.Length);
        image.CopyTo(element, 4);
        raw.RawInputContents.Add(ByteString.CopyFrom([.. element, .. element]));
        var answer = await client.ModelInferAsync(raw);
        int at = answer.Outputs.Select(o => o.Name).ToList().IndexOf("num_detections");
        Assert.Equal([2L], answer.Outputs[at].Shape);
        var counts = answer.RawOutputContents[at].Span; // INT64, little-endian
        Assert.Equal(BinaryPrimitives.ReadInt64LittleEndian(counts), BinaryPrimitives.ReadInt64LittleEndian(counts[8..]));
    }

    [Fact]
    public async Task The_ablate_parameter_switches_activations_off_over_grpc()
    {
        var client = await ClientAsync();
        var png = TestImages.Png(20, 20);
        var request = new ModelInferRequest { ModelName = "tiny", Parameters = { ["ablate"] = new InferParameter { StringParam = "rff2:all" } } };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "image", Datatype = "BYTES", Shape = { 1 }, Contents = new InferTensorContents { BytesContents = { ByteString.CopyFrom(png) } } });
        var answer = await client.ModelInferAsync(request);
        var names = answer.Outputs.Select(o => o.Name).ToList();
        Assert.Contains("original_probabilities", names);
        var after = answer.Outputs[names.IndexOf("probabilities")].Contents.Fp32Contents;
        var before = answer.Outputs[names.IndexOf("original_probabilities")].Contents.Fp32Contents;
        Assert.NotEqual(before, after);
        Assert.Contains("\"layer\":\"rff2\"", answer.Parameters["intervention"].StringParam);

        request.Parameters["ablate"] = new InferParameter { StringParam = "rff2:99" };
        var error = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(request).ResponseAsync);
        Assert.Contains("0..7", error.Status.Detail);
    }

    [Fact]
    public async Task Errors_are_grpc_status_codes_with_the_services_message()
    {
        var client = await ClientAsync();
        async Task<RpcException> Fails(ModelInferRequest request) => await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(request).ResponseAsync);

        var unknown = await Fails(new ModelInferRequest { ModelName = "nope", Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1 }, Contents = new() { Fp32Contents = { 1f } } } } });
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("'tiny'", unknown.Status.Detail); // names the models there are, in no protocol's terms
        Assert.DoesNotContain("GET /", unknown.Status.Detail);
        // The protocol names a model in every model call: an empty name is an error, not the default model.
        var unnamed = await Assert.ThrowsAsync<RpcException>(() => client.ModelMetadataAsync(new ModelMetadataRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, unnamed.StatusCode);
        var shortData = await Fails(new ModelInferRequest { ModelName = "tiny", Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1, 1, 16, 16 }, Contents = new() { Fp32Contents = { 1f } } } } });
        Assert.Equal(StatusCode.InvalidArgument, shortData.StatusCode);
        Assert.Contains("256", shortData.Status.Detail);
        var badRaw = new ModelInferRequest { ModelName = "tiny", Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "image", Datatype = "BYTES", Shape = { 1 } } } };
        badRaw.RawInputContents.Add(ByteString.CopyFrom(255, 255, 0, 0, 1));
        Assert.Equal(StatusCode.InvalidArgument, (await Fails(badRaw)).StatusCode);
        var failed = await Fails(new ModelInferRequest { ModelName = "broken", Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { 1 }, Contents = new() { Fp32Contents = { 1f } } } } });
        Assert.Equal(StatusCode.Unavailable, failed.StatusCode);
    }
}

public class ReadinessPolicyTests
{
    [Fact]
    public async Task With_the_all_policy_a_failed_model_makes_rest_grpc_and_health_not_ready()
    {
        await using var factory = new ConfigurableFactory(new() { ["Inference:ReadyPolicy"] = "all" });
        var http = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/ready")).StatusCode);
        var v2 = await http.GetAsync("/v2/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, v2.StatusCode);
        Assert.Contains("ready policy", System.Text.Json.JsonDocument.Parse(await v2.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        var channel = GrpcChannel.ForAddress(factory.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = factory.Server.CreateHandler() });
        Assert.False((await new GRPCInferenceService.GRPCInferenceServiceClient(channel).ServerReadyAsync(new ServerReadyRequest())).Ready);
    }
}
