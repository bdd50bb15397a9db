using Google.Protobuf;
using RffService.Onnx.Proto;

namespace RffService.Onnx.Tests;

public class ModelFileTests
{
    [Fact]
    public void A_model_saved_and_reloaded_is_identical()
    {
        var model = TestModels.SmallRffCnn(seed: 3);
        string path = Path.Combine(Path.GetTempPath(), $"rff-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxModelFile.Save(model, path);
            var reloaded = OnnxModelFile.Load(path);
            Assert.Equal(model, reloaded);
            Assert.Equal(model.ToByteArray(), reloaded.ToByteArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unknown_fields_survive_a_round_trip()
    {
        // Field 20 of ModelProto (training_info) is not in our proto: it must be kept as unknown bytes.
        var model = TestModels.SmallRffCnn(seed: 1);
        var bytes = model.ToByteArray().Concat(new byte[] { 0xA2, 0x01, 0x00 }).ToArray(); // tag (20 << 3 | 2), length 0
        var reparsed = OnnxModelFile.Parse(bytes);
        Assert.Equal(bytes, reparsed.ToByteArray());
    }

    [Fact]
    public void Built_models_declare_the_operator_function_and_opsets()
    {
        var model = TestModels.SmallRffCnn(seed: 1);
        var function = Assert.Single(model.Functions);
        Assert.Equal(("ai.rff", "RffConv"), (function.Domain, function.Name));
        Assert.All(function.Node, n => Assert.Equal("", n.Domain));
        Assert.Contains(model.OpsetImport, o => o.Domain == "ai.rff" && o.Version == 1);
        Assert.Contains(model.OpsetImport, o => o.Domain == "" && o.Version == GraphBuilder.DefaultOpset);
        Assert.Equal("batch", model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
    }

    [Fact]
    public void Tensor_values_round_trip_through_raw_data_and_float_data()
    {
        float[] values = [1.5f, -2f, 3.25f, 0f, float.Epsilon, 1e30f];
        var raw = Tensors.FromFloats("t", [2, 3], values);
        Assert.Equal(values, Tensors.ToFloats(raw));

        var listed = new TensorProto { Name = "t", DataType = 1 };
        listed.Dims.AddRange([2, 3]);
        listed.FloatData.AddRange(values);
        Assert.Equal(values, Tensors.ToFloats(listed));
        Assert.Throws<ArgumentException>(() => Tensors.FromFloats("bad", [2, 2], values));
    }

    [Fact]
    public void Exposed_intermediate_outputs_are_returned_by_onnx_runtime()
    {
        var model = TestModels.SmallRffCnn(seed: 2);
        ModelEditor.ExposeOutputs(model, ["rff1"]);
        var input = new float[1 * 1 * 12 * 12];
        var (values, shape) = OrtRunner.Run(model, "input", input, [1, 1, 12, 12], "rff1");
        Assert.Equal(new long[] { 1, 4, 12, 12 }, shape);
        Assert.Equal(4 * 12 * 12, values.Length);
        Assert.Throws<ArgumentException>(() => ModelEditor.ExposeOutputs(model, ["no_such_tensor"]));
    }
}

public class RffCnnGraphTests
{
    [Fact]
    public void Onnx_runtime_logits_equal_the_managed_forward_pass()
    {
        var spec = TestModels.SmallSpec(seed: 11);
        var random = new Random(4);
        const int batch = 3;
        var input = Enumerable.Range(0, batch * 12 * 12).Select(_ => (float)random.NextDouble()).ToArray();

        var (ort, shape) = OrtRunner.Run(RffCnnBuilder.Build(spec), "input", input, [batch, 1, 12, 12]);
        var managed = RffCnnManagedForward.Logits(spec, input, batch);

        Assert.Equal(new long[] { batch, 3 }, shape);
        for (int i = 0; i < managed.Length; i++) Assert.Equal(managed[i], ort[i], 1e-4f);
    }
}

public class RffCnnVariantTests
{
    [Theory]
    [InlineData(PoolMode.Average, 2)] // 12 -> pool 2 -> 6 -> 6: grid cells of 3
    [InlineData(PoolMode.Max, 4)]     // 6 into 4 cells: stride 1, window 3 (overlapping)
    [InlineData(PoolMode.Average, 1)]
    public void Onnx_runtime_and_the_managed_pass_agree_for_pooling_modes_and_readout_grids(PoolMode pool, int grid)
    {
        var random = new Random(21);
        var layers = new[]
        {
            RffLayerSpec.Random(1, 4, 3, sigma: 1.5f, poolSize: 2, random, pool: pool),
            RffLayerSpec.Random(4, 5, 3, sigma: 2f, poolSize: 1, random, pool: pool),
        };
        var spec = new RffCnnSpec(1, 12, 12, layers, [], [0.5f, -0.5f], grid);
        spec = spec with { ReadoutWeights = Enumerable.Range(0, 2 * spec.Features).Select(_ => (float)RffLayerSpec.Gaussian(random)).ToArray() };
        var input = Enumerable.Range(0, 2 * 144).Select(_ => (float)random.NextDouble()).ToArray();

        var (ort, _) = OrtRunner.Run(RffCnnBuilder.Build(spec), "input", input, [2, 1, 12, 12]);
        var managed = RffCnnManagedForward.Logits(spec, input, 2);
        for (int i = 0; i < managed.Length; i++) Assert.Equal(managed[i], ort[i], 1e-4f);

        var (features, shape) = OrtRunner.Run(RffCnnBuilder.BuildBackbone(spec), "input", input, [2, 1, 12, 12]);
        Assert.Equal(new long[] { 2, spec.Features }, shape);
        var expected = RffCnnManagedForward.Features(spec, input, 2);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], features[i], 1e-5f);
    }
}

/// <summary>A plain torch.onnx.export of RffConv2d writes the ai.rff::RffConv node without its definition; the service supplies it.</summary>
public class RffConvDefinitionTests
{
    [Fact]
    public void A_model_using_the_operator_without_its_definition_gets_it_and_runs_as_with_it()
    {
        var spec = TestModels.SmallSpec(seed: 5);
        var complete = RffCnnBuilder.Build(spec);
        var bare = complete.Clone();
        bare.Functions.Clear();
        var input = Enumerable.Range(0, spec.InputHeight * spec.InputWidth).Select(i => (i % 11) / 11f).ToArray();
        long[] shape = [1, 1, spec.InputHeight, spec.InputWidth];
        Assert.ThrowsAny<Exception>(() => OrtRunner.Run(bare, RffCnnBuilder.InputName, input, shape)); // ONNX Runtime cannot run it as it is

        Assert.True(RffConvOperator.SupplyDefinition(bare));
        Assert.Equal(OrtRunner.Run(complete, RffCnnBuilder.InputName, input, shape).Values, OrtRunner.Run(bare, RffCnnBuilder.InputName, input, shape).Values);
        Assert.False(RffConvOperator.SupplyDefinition(bare)); // once is enough
        Assert.False(RffConvOperator.SupplyDefinition(complete)); // a model's own definition is kept
    }

    [Fact]
    public void A_model_without_the_operator_is_left_as_it_is()
    {
        var model = new GraphBuilder("plain").Input("x", [null, 3]).Output("y", [null, 3]).Node("Relu", ["x"], ["y"]).Build();
        Assert.False(RffConvOperator.SupplyDefinition(model));
        Assert.Empty(model.Functions);
        Assert.DoesNotContain(model.OpsetImport, o => o.Domain == RffConvOperator.Domain);
    }
}
