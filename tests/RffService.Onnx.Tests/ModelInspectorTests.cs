namespace RffService.Onnx.Tests;

public class ModelInspectorTests
{
    [Fact]
    public void Finds_custom_op_layers_with_their_parameters()
    {
        var spec = TestModels.SmallSpec(seed: 5);
        var layers = new ModelInspector(RffCnnBuilder.Build(spec)).FindRffLayers();

        Assert.Equal(["rff1", "rff2"], layers.Select(l => l.Name));
        Assert.All(layers, l => Assert.Equal(RffLayerForm.CustomOp, l.Form));
        Assert.Equal((4, 1, 3, 3), (layers[0].OutChannels, layers[0].InChannels, layers[0].KernelHeight, layers[0].KernelWidth));
        Assert.Equal(spec.Layers[1].Attributes, layers[1].Attributes);
        Assert.Equal("pool1", layers[1].Input);
    }

    [Fact]
    public void Finds_standard_op_chains_exported_without_the_custom_op()
    {
        // Conv -> Div(sigma) -> Add(B) -> Cos -> Mul(scale), as a framework exporter would write it.
        var random = new Random(9);
        var w = Enumerable.Range(0, 5 * 1 * 3 * 3).Select(_ => (float)RffLayerSpec.Gaussian(random)).ToArray();
        var model = new GraphBuilder("chain")
            .Input("x", [null, 1, 8, 8])
            .Output("y", [null, 5, 8, 8])
            .Initializer("w", [5, 1, 3, 3], w)
            .Initializer("sigma", [], [2.5f])
            .Initializer("b", [5, 1, 1], new float[5])
            .Initializer("s", [], [0.5f])
            .Node("Conv", ["x", "w"], ["conv"], "conv1", "", Attributes.Ints("pads", 1, 1, 1, 1))
            .Node("Div", ["conv", "sigma"], ["scaled"])
            .Node("Add", ["scaled", "b"], ["shifted"])
            .Node("Cos", ["shifted"], ["features"])
            .Node("Mul", ["features", "s"], ["y"])
            .Build();

        var layer = Assert.Single(new ModelInspector(model).FindRffLayers());
        Assert.Equal(RffLayerForm.StandardOpChain, layer.Form);
        Assert.Equal(("conv1", "y", "x", "b"), (layer.Name, layer.Output, layer.Input, layer.BiasName));
        Assert.Equal((2.5f, 0.5f, 1), (layer.Attributes.Sigma, layer.Attributes.Scale, layer.Attributes.PadTop));
    }

    [Fact]
    public void A_plain_convolution_is_not_an_rff_layer()
    {
        var model = new GraphBuilder("plain")
            .Input("x", [null, 1, 8, 8])
            .Output("y", [null, 2, 6, 6])
            .Initializer("w", [2, 1, 3, 3], new float[18])
            .Node("Conv", ["x", "w"], ["c"])
            .Node("Relu", ["c"], ["y"])
            .Build();
        Assert.Empty(new ModelInspector(model).FindRffLayers());
    }
}
