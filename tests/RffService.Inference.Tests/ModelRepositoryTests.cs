using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Onnx.Runtime;
using RffService.TestSupport;
using RffService.Vision.Configuration;

namespace RffService.Inference.Tests;

public class ModelRepositoryTests
{
    [Fact]
    public async Task Loads_the_highest_version_and_lists_its_rff_layers()
    {
        using var models = new TestModelRepository()
            .AddModel("tiny", TestModelRepository.TinySpec(seed: 1), TestModelRepository.TinyConfig(), version: 1)
            .AddModel("tiny", TestModelRepository.TinySpec(seed: 2), TestModelRepository.TinyConfig(), version: 3);
        Directory.CreateDirectory(Path.Combine(models.Root, "tiny", "not-a-version"));
        await using var services = TestServices.Load(models.Root);
        var repository = services.Repository;

        var model = Assert.Single(repository.Models);
        Assert.Equal((ModelState.Ready, 3), (model.State, model.Version));
        Assert.Equal([3, 1], model.Versions);
        Assert.Equal(["rff1", "rff2"], model.Runtime!.RffLayers.Select(l => l.Name));
        Assert.Equal(SessionFactory.Cpu, model.Runtime.ExecutionProvider);
        Assert.True(repository.Loaded.IsCompletedSuccessfully);
    }

    /// <summary>The tiny model with its largest initializer's data moved to <paramref name="location"/> (written to <paramref name="file"/>).</summary>
    private static Onnx.Proto.ModelProto WithExternalData(string location, string file)
    {
        var model = RffCnnBuilder.Build(TestModelRepository.TinySpec());
        var tensor = model.Graph.Initializer.OrderByDescending(t => t.CalculateSize()).First();
        var data = tensor.RawData.Length > 0 ? tensor.RawData.ToByteArray()
            : tensor.FloatData.SelectMany(BitConverter.GetBytes).ToArray();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllBytes(file, [.. new byte[16], .. data]); // at an offset, as exporters may write several tensors into one file
        tensor.FloatData.Clear();
        tensor.ClearRawData();
        tensor.DataLocation = Onnx.Proto.TensorProto.Types.DataLocation.External;
        tensor.ExternalData.Add(new Onnx.Proto.StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new Onnx.Proto.StringStringEntryProto { Key = "offset", Value = "16" });
        tensor.ExternalData.Add(new Onnx.Proto.StringStringEntryProto { Key = "length", Value = data.Length.ToString() });
        return model;
    }

    [Fact]
    public async Task External_data_is_read_from_the_models_folder_at_load_and_confined_to_it()
    {
        using var models = new TestModelRepository().AddModel("inline", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig());
        string weights = Path.Combine(models.Root, "external", "1", "weights.bin");
        models.AddGraph("external", WithExternalData("weights.bin", weights), TestModelRepository.TinyConfig());
        models.AddGraph("escapes", WithExternalData("../../inline/1/weights.bin", Path.Combine(models.Root, "inline", "1", "weights.bin")), TestModelRepository.TinyConfig());
        models.AddGraph("absolute", WithExternalData(Path.Combine(models.Root, "abs.bin"), Path.Combine(models.Root, "abs.bin")), TestModelRepository.TinyConfig());
        await using var services = TestServices.Load(models.Root);

        Assert.Equal(ModelState.Ready, services.Model("external").State);
        Assert.Contains("no absolute path, no '..'", services.Model("escapes").Error);
        Assert.Contains("no absolute path, no '..'", services.Model("absolute").Error);
        // Read once: with the file gone, the model classifies and explains as the inline one does.
        File.Delete(weights);
        var png = TestImages.Png(16, 16, gray: true);
        var expected = (await services.Classifier.ClassifyAsync([png], "inline", 3))[0].Predictions;
        Assert.Equal(expected, (await services.Classifier.ClassifyAsync([png], "external", 3))[0].Predictions);
        var cam = await services.Cam.ExplainAsync(png, new Explanations.CamRequest("external", Layer: "all", MeasureFaithfulness: false));
        Assert.Equal("external", cam.Model);
    }

    /// <summary>
    /// A classifier whose scores come out of an If with a constant condition (Cast of 1 to bool); the branches read the
    /// outer tensor "linear": the then-branch through Cos (an RFF-like nonlinearity inside a subgraph), the else-branch negated.
    /// </summary>
    private static Onnx.Proto.ModelProto ConstantIf()
    {
        static Onnx.Proto.GraphProto Branch(string op, string name)
        {
            var graph = new Onnx.Proto.GraphProto { Name = name };
            graph.Node.Add(new Onnx.Proto.NodeProto { OpType = op, Input = { "linear" }, Output = { name + "_out" }, Name = name + "/" + op });
            graph.Output.Add(new Onnx.Proto.ValueInfoProto
            {
                Name = name + "_out",
                Type = new Onnx.Proto.TypeProto
                {
                    TensorType = new Onnx.Proto.TypeProto.Types.Tensor { ElemType = (int)Onnx.Proto.TensorProto.Types.DataType.Float },
                }
            });
            return graph;
        }
        var graphType = Onnx.Proto.AttributeProto.Types.AttributeType.Graph;
        return new GraphBuilder("constant_if")
            .Input(RffCnnBuilder.InputName, [null, 1, 16, 16]).Output(RffCnnBuilder.OutputName, [null, 3])
            .Node("Flatten", [RffCnnBuilder.InputName], ["flat"])
            .Initializer("w", [3, 256], Enumerable.Range(0, 768).Select(i => (i % 7 - 3) / 50f).ToArray())
            .Node("Gemm", ["flat", "w"], ["linear"], attributes: Attributes.Int("transB", 1))
            .Initializer("one", [], [1f])
            .Node("Cast", ["one"], ["condition"], attributes: Attributes.Int("to", (long)Onnx.Proto.TensorProto.Types.DataType.Bool))
            .Node("If", ["condition"], [RffCnnBuilder.OutputName], name: "branch",
                attributes: [new Onnx.Proto.AttributeProto { Name = "then_branch", Type = graphType, G = Branch("Cos", "then") },
                             new Onnx.Proto.AttributeProto { Name = "else_branch", Type = graphType, G = Branch("Neg", "else") }])
            .Build();
    }

    [Fact]
    public async Task A_constant_condition_if_loads_serves_and_names_what_lies_inside_it()
    {
        using var models = new TestModelRepository().AddGraph("if", ConstantIf(), TestModelRepository.TinyConfig());
        await using var services = TestServices.Load(models.Root);
        var model = services.Model("if");
        Assert.True(model.State == ModelState.Ready, model.Error);
        var result = (await services.Classifier.ClassifyAsync([TestImages.Png(16, 16, gray: true)], "if", 3))[0];
        Assert.Equal(3, result.Predictions.Count);
        var inside = Assert.Single(model.Runtime!.UnrecognisedRffChains);
        Assert.Contains("inside the subgraph of the If node 'branch'", inside.Reason);
        Assert.Contains("If node 'branch'", model.Runtime.Explanations.Error);
    }

    [Fact]
    public async Task A_broken_model_is_reported_while_the_others_serve()
    {
        using var models = new TestModelRepository()
            .AddModel("good", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig())
            .AddModelBytes("corrupt", TestModelRepository.TinyConfig(), "this is not protobuf"u8.ToArray())
            .AddRawConfig("no-file", System.Text.Json.JsonSerializer.Serialize(TestModelRepository.TinyConfig(), ModelConfig.JsonOptions))
            .AddRawConfig("bad-json", "{ \"task\": ")
            .AddRawConfig("bad-config", """{ "task": "segmentation", "labels": [], "input": { "width": 0, "height": 16, "channels": 2 } }""")
            .AddModel("lying-labels", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig(labels: ["a", "b"]))
            .AddModel("lying-channels", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig(channels: 3));
        Directory.CreateDirectory(Path.Combine(models.Root, "no-file", "1")); // a version folder without model.onnx
        models.AddGraphOnly("no-config", RffCnnBuilder.Build(TestModelRepository.TinySpec())); // no labels or normalisation in its metadata
        var good = OnnxModelFile.ToBytes(RffCnnBuilder.Build(TestModelRepository.TinySpec()));
        models.AddModelBytes("truncated", TestModelRepository.TinyConfig(), good[..(good.Length / 2)])
            .AddModelBytes("random-bytes", TestModelRepository.TinyConfig(), Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray())
            .AddGraph("unknown-domain", OneNode("Foo", "com.example", 17), TestModelRepository.TinyConfig())
            .AddGraph("future-opset", OneNode("Relu", "", 99), TestModelRepository.TinyConfig())
            .AddGraph("two-inputs", TwoInputs(), TestModelRepository.TinyConfig());
        await using var services = TestServices.Load(models.Root);
        var repository = services.Repository;

        Assert.Equal(ModelState.Ready, repository.Find("good")!.State);
        AssertFailed("corrupt", "not a valid ONNX model");
        AssertFailed("no-file", "has no model.onnx");
        AssertFailed("bad-json", "not valid JSON");
        AssertFailed("bad-config", "/task: ");
        AssertFailed("bad-config", "\"classification\", \"detection\"");
        AssertFailed("lying-labels", "lists 2 labels");
        AssertFailed("lying-channels", "channels is 3");
        AssertFailed("no-config", "config.json is missing");
        AssertFailed("truncated", "not a valid ONNX model");
        AssertFailed("random-bytes", "not a valid ONNX model");
        AssertFailed("unknown-domain", "com.example");
        AssertFailed("future-opset", "99");
        AssertFailed("two-inputs", "export it with one input");
        // What clients see carries no server path, native source location or type name.
        Assert.All(repository.Models.Where(m => m.State == ModelState.Failed), m =>
        {
            Assert.DoesNotContain(models.Root, m.Error);
            Assert.DoesNotMatch(@"\.(cc|cpp|h):\d+|onnxruntime::|System\.\w+Exception", m.Error!);
        });

        void AssertFailed(string name, string reason)
        {
            var model = repository.Find(name)!;
            Assert.Equal(ModelState.Failed, model.State);
            Assert.Contains(reason, model.Error);
        }
    }

    /// <summary>16x16 gray in, 3 scores out through one node of <paramref name="op"/>, at <paramref name="opset"/>.</summary>
    private static Onnx.Proto.ModelProto OneNode(string op, string domain, int opset)
    {
        var builder = new GraphBuilder("odd", opset).Input(RffCnnBuilder.InputName, [null, 1, 16, 16]).Output(RffCnnBuilder.OutputName, [null, 3])
            .Node("Flatten", [RffCnnBuilder.InputName], ["flat"])
            .Initializer("w", [3, 256], new float[768])
            .Node("Gemm", ["flat", "w"], ["linear"], attributes: Attributes.Int("transB", 1))
            .Node(op, ["linear"], [RffCnnBuilder.OutputName], domain: domain);
        var model = builder.Build();
        if (domain.Length > 0) model.OpsetImport.Add(new Onnx.Proto.OperatorSetIdProto { Domain = domain, Version = 1 });
        return model;
    }

    /// <summary>A classifier with a second input ("gain") the service cannot feed.</summary>
    private static Onnx.Proto.ModelProto TwoInputs() => new GraphBuilder("two_inputs")
        .Input(RffCnnBuilder.InputName, [null, 1, 16, 16]).Input("gain", [null, 3]).Output(RffCnnBuilder.OutputName, [null, 3])
        .Node("Flatten", [RffCnnBuilder.InputName], ["flat"])
        .Initializer("w", [3, 256], new float[768])
        .Node("Gemm", ["flat", "w"], ["linear"], attributes: Attributes.Int("transB", 1))
        .Node("Mul", ["linear", "gain"], [RffCnnBuilder.OutputName])
        .Build();

    [Fact]
    public void Config_validation_names_every_problem()
    {
        var config = new ModelConfig
        {
            Task = "regression",
            Labels = [],
            Input = new InputConfig { Width = 0, Height = 10, Channels = 2, Layout = "CHWN", Resize = "crop", Mean = [0f], Std = [0f] },
        };
        var errors = string.Join("\n", ModelConfigValidator.Validate(config));
        foreach (var place in new[] { "/task:", "/labels:", "/input/width:", "/input/channels:", "/input/layout:", "/input/resize:", "/input/std/0:" })
            Assert.Contains(place, errors);
        Assert.Empty(ModelConfigValidator.Validate(TestModelRepository.TinyConfig()));
    }

    [Fact]
    public void A_config_file_is_checked_against_the_documented_schema_with_the_place_of_each_error()
    {
        var (config, errors) = ModelConfigValidator.Read("""
            { "task": "classification", "labels": ["a", "b"], "colour": "red",
              "input": { "width": 9000, "height": 8, "channels": 3, "mean": [0.5], "std": [0.25] },
              "batching": { "maxBatchSize": 2000 } }
            """);
        Assert.Null(config);
        var text = string.Join("\n", errors);
        Assert.Contains("colour", text);
        Assert.Contains("/input/width:", text);
        Assert.Contains("/batching/maxBatchSize:", text);

        // One mean and std value stands for every channel.
        (config, errors) = ModelConfigValidator.Read("""
            { "task": "classification", "labels": ["a"], "input": { "width": 8, "height": 8, "channels": 3, "mean": [0.5], "std": [0.25] } }
            """);
        Assert.Empty(errors);
        var spec = RffService.Vision.Imaging.InputSpec.From(config!.Input);
        Assert.Equal([0.5f, 0.5f, 0.5f], spec.Mean);
        Assert.Equal([0.25f, 0.25f, 0.25f], spec.Std);

        (_, errors) = ModelConfigValidator.Read("""
            { "task": "classification", "labels": ["a"], "input": { "width": 8, "height": 8, "channels": 3, "mean": [0.5, 0.4], "std": [0.25] } }
            """);
        Assert.Contains("input.mean and input.std", string.Join("\n", errors));
    }

    [Fact]
    public async Task Auto_falls_back_to_cpu_and_cuda_without_a_cuda_build_fails_the_model()
    {
        using var models = new TestModelRepository().AddModel("tiny", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig());

        await using (var auto = TestServices.Load(models.Root, configure: o => o.ExecutionProvider = "auto"))
            Assert.Equal(SessionFactory.Cpu, auto.Model("tiny").Runtime!.ExecutionProvider);

        await using var cuda = TestServices.Load(models.Root, configure: o => o.ExecutionProvider = "cuda");
        var model = cuda.Model("tiny");
        Assert.Equal(ModelState.Failed, model.State);
        Assert.Contains("CUDA", model.Error);
    }

    [Fact]
    public async Task A_missing_repository_completes_loading_with_no_models()
    {
        await using var services = TestServices.Load(Path.Combine(Path.GetTempPath(), "no-such-" + Guid.NewGuid()));
        var repository = services.Repository;
        Assert.True(repository.IsLoaded);
        Assert.Empty(repository.Models);
    }
}
