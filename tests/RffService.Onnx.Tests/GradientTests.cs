using RffService.Onnx;

namespace RffService.Onnx.Tests;

public class GradientTests
{
    private static float[] Random(Random random, int count, double scale = 1) =>
        Enumerable.Range(0, count).Select(_ => (float)(RffLayerSpec.Gaussian(random) * scale)).ToArray();

    private static double RelativeError(IReadOnlyList<double> numeric, IReadOnlyList<float> analytic)
    {
        double worstDiff = 0, largest = 0;
        for (int i = 0; i < numeric.Count; i++)
        {
            worstDiff = Math.Max(worstDiff, Math.Abs(numeric[i] - analytic[i]));
            largest = Math.Max(largest, Math.Abs(numeric[i]));
        }
        return worstDiff / largest;
    }

    [Theory]
    [InlineData(1, 3, 1, 1, 1)]
    [InlineData(3, 3, 2, 1, 1)]
    [InlineData(2, 5, 1, 2, 2)]
    [InlineData(3, 1, 2, 0, 1)]
    public void RffConv_backward_matches_central_finite_differences(int channels, int kernel, int stride, int pad, int dilation)
    {
        var random = new Random(channels * 100 + kernel * 10 + stride);
        var attributes = new RffConvAttributes(1.3f, 0.7f, stride, stride, pad, pad, pad, pad, dilation, dilation);
        var g = new ConvGeometry(2, channels, 9, 8, 4, kernel, kernel, attributes);
        var x = Random(random, g.InputLength);
        var w = Random(random, g.WeightLength);
        var b = Random(random, g.M);
        var r = Random(random, g.OutputLength); // loss = Σ r ⊙ Y, so dL/dY = r

        var y = new float[g.OutputLength];
        var u = new float[g.OutputLength];
        RffConvKernel.Forward(g, x, w, b, y, u);
        var analytic = RffConvKernel.Backward(g, w, u, r);

        double Loss(float[] input)
        {
            var output = new float[g.OutputLength];
            RffConvKernel.Forward(g, input, w, b, output);
            return output.Select((v, i) => (double)v * r[i]).Sum();
        }
        var numeric = new double[x.Length];
        const float h = 1e-2f;
        for (int i = 0; i < x.Length; i++)
        {
            var plus = (float[])x.Clone(); plus[i] += h;
            var minus = (float[])x.Clone(); minus[i] -= h;
            numeric[i] = (Loss(plus) - Loss(minus)) / (2 * h);
        }
        Assert.True(RelativeError(numeric, analytic) <= 1e-3, $"relative error {RelativeError(numeric, analytic):E2}");
    }

    [Theory]
    [InlineData(-1)] // the network input: back through both RffConv layers
    [InlineData(0)]  // rff1's output: back through max pooling, rff2, GAP and the readout
    [InlineData(2)]  // rff2's output
    public void Network_gradients_match_central_finite_differences(int opIndex)
    {
        // Average pooling: max pooling is not differentiable where a finite-difference step changes the argmax.
        var spec = TestModels.SmallSpec(seed: 17, pool: PoolMode.Average);
        var net = SequentialNet.FromModel(RffCnnBuilder.Build(spec));
        var random = new Random(3);
        var input = new Tensor(Random(random, 144, 0.5), [1, 1, 12, 12]);
        var activation = opIndex < 0 ? input : net.Forward(input).Inputs[opIndex + 1];
        const int target = 2;

        var analytic = net.GradientAt(opIndex, activation, target);

        double Score(float[] values) => net.Forward(new Tensor(values, activation.Shape), opIndex + 1).Output.Data[target];
        var numeric = new double[activation.Data.Length];
        const float h = 1e-2f;
        for (int i = 0; i < numeric.Length; i++)
        {
            var plus = (float[])activation.Data.Clone(); plus[i] += h;
            var minus = (float[])activation.Data.Clone(); minus[i] -= h;
            numeric[i] = (Score(plus) - Score(minus)) / (2 * h);
        }
        Assert.Equal(activation.Shape, analytic.Shape);
        Assert.True(RelativeError(numeric, analytic.Data) <= 1e-3, $"relative error {RelativeError(numeric, analytic.Data):E2}");
    }

    [Fact]
    public void Sequential_forward_equals_onnx_runtime_and_reads_every_op()
    {
        var spec = TestModels.SmallSpec(seed: 23);
        var model = RffCnnBuilder.Build(spec);
        var net = SequentialNet.FromModel(model);
        Assert.Equal(["rff1", "pool1", "rff2", "readout_pool", "features", "logits"], net.Ops.Select(o => o.Output));

        var input = Enumerable.Range(0, 2 * 144).Select(i => (float)Math.Sin(i)).ToArray();
        var (ort, _) = OrtRunner.Run(model, "input", input, [2, 1, 12, 12]);
        var managed = net.Forward(new Tensor(input, [2, 1, 12, 12])).Output.Data;
        for (int i = 0; i < ort.Length; i++) Assert.Equal(ort[i], managed[i], 1e-4f);
    }

    [Fact]
    public void A_tail_model_continues_from_an_intermediate_tensor()
    {
        var spec = TestModels.SmallSpec(seed: 29);
        var model = RffCnnBuilder.Build(spec);
        var net = SequentialNet.FromModel(model);
        var input = Enumerable.Range(0, 144).Select(i => (float)Math.Cos(i * 0.3)).ToArray();
        var rff1 = net.Forward(new Tensor(input, [1, 1, 12, 12])).Inputs[1];

        var tail = ModelEditor.TailFrom(model, "rff1");
        Assert.DoesNotContain(tail.Graph.Node, n => n.Name == "rff1");
        Assert.DoesNotContain(tail.Graph.Initializer, t => t.Name == "rff1.W");
        var (fromTail, _) = OrtRunner.Run(tail, "rff1", rff1.Data, rff1.Shape.Select(d => (long)d).ToArray());
        var (full, _) = OrtRunner.Run(model, "input", input, [1, 1, 12, 12]);
        for (int i = 0; i < full.Length; i++) Assert.Equal(full[i], fromTail[i], 1e-4f);
    }

    [Fact]
    public void Max_pooling_routes_the_gradient_to_each_window_maximum()
    {
        var model = new GraphBuilder("pool")
            .Input("x", [null, 1, 2, 4]).Output("y", [null, 2])
            .Node("MaxPool", ["x"], ["p"], "p", "", Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2))
            .Node("Flatten", ["p"], ["y"], "y", "", Attributes.Int("axis", 1))
            .Build();
        var net = SequentialNet.FromModel(model);
        var input = new Tensor([1, 5, 2, 0, 3, 4, 9, 1], [1, 1, 2, 4]);
        var grad = net.GradientAt(-1, input, outputIndex: 1);
        Assert.Equal([0f, 0, 0, 0, 0, 0, 1, 0], grad.Data);
    }

    [Fact]
    public void Unsupported_operations_are_named()
    {
        var model = new GraphBuilder("relu")
            .Input("x", [null, 1, 4, 4]).Output("y", [null, 1, 4, 4])
            .Node("Relu", ["x"], ["y"], "my_relu")
            .Build();
        var ex = Assert.Throws<NotSupportedException>(() => SequentialNet.FromModel(model));
        Assert.Contains("Relu", ex.Message);
    }
}
