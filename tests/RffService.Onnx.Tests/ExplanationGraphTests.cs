using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Explanations;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;
using RffService.TestSupport;

namespace RffService.Onnx.Tests;

/// <summary>
/// The gradient graph against central finite differences of the forward model, on small graphs that write each
/// operator, and each pattern exporters produce, the way torch.onnx.export does. The finite differences move the
/// layer's activations through the graph's own perturbation input, so they use the model's forward only.
/// </summary>
public class ExplanationGraphTests
{
    private static readonly SessionFactory Sessions = new(SessionSettings.Cpu);

    public static TheoryData<string> Cases() => [.. ExporterPatterns.All.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradient_graph_agrees_with_finite_differences(string name)
    {
        var (model, layer, inputShape) = ExporterPatterns.All[name]();
        double error = GradientCheck.MaxRelativeError(model, layer, inputShape);
        Assert.True(error <= 1e-3, $"{name}: relative error {error:E2}");
    }

    [Fact]
    public void Several_layers_share_one_backward_pass_and_each_agrees()
    {
        var (model, _, inputShape) = ExporterPatterns.All["stem: Conv + BatchNorm + Relu, then RffConv, GAP, Gemm"]();
        foreach (var layer in new[] { "stem.relu", "rff" })
            Assert.True(GradientCheck.MaxRelativeError(model, layer, inputShape, alsoLayers: ["stem.relu", "rff"]) <= 1e-3, layer);
    }

    [Fact]
    public void Max_pooling_sends_the_gradient_to_the_first_maximum_of_each_window_on_ties()
    {
        // x -> Identity (the layer) -> MaxPool 2x2 -> sum over everything: every window's gradient is 1, at its first maximum.
        var model = new GraphBuilder("ties", 17)
            .Input("x", [null, 1, 4, 4]).Output("y", [null, 1])
            .Node("Identity", ["x"], ["layer"])
            .Node("MaxPool", ["layer"], ["pooled"], attributes: [Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2)])
            .Node("ReduceSum", ["pooled", "axes"], ["y"], attributes: Attributes.Int("keepdims", 0))
            .Int64Initializer("axes", [3], [1, 2, 3])
            .Build();
        float[] x =
        [
            1, 1, 0, 5,
            1, 1, 5, 5,
            2, 0, 3, 3,
            0, 2, 0, 3,
        ];
        var gradient = GradientCheck.Gradient(model, "layer", x, [1, 1, 4, 4], target: [1f]);
        float[] expected =
        [
            1, 0, 0, 1,
            0, 0, 0, 0,
            1, 0, 1, 0,
            0, 0, 0, 0,
        ];
        Assert.Equal(expected, gradient);
    }

    [Fact]
    public void The_top_score_graph_explains_each_inputs_top_class()
    {
        var (model, _, inputShape) = ExporterPatterns.All["RffConv operator, GAP, Gemm"]();
        using var explainer = Explainer.Create(model, "x", inputShape, "y", new Dictionary<string, string> { ["rff"] = "rff" }, Sessions);
        var layers = explainer.Layers.Where(l => l.Usable).ToList();
        var random = new Random(3);
        long[] batchShape = [3, .. inputShape[1..]];
        var input = Enumerable.Range(0, (int)(batchShape.Aggregate(1L, (a, b) => a * b))).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        var top = explainer.RunForTopScore(input, batchShape, layers);
        // The same run with each row's top class (found here, from the scores) as an explicit one-hot target.
        int classes = (int)explainer.ScoreShape[^1];
        var oneHot = new float[3 * classes];
        for (int row = 0; row < 3; row++)
        {
            var scores = top.Scores.AsSpan(row * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (scores[c] > scores[best]) best = c;
            oneHot[row * classes + best] = 1;
        }
        var named = explainer.Run(input, batchShape, oneHot, [3, classes], layers);
        Assert.Equal(named.Scores, top.Scores);
        foreach (var layer in layers) Assert.Equal(named.Layers[layer.Tensor].Gradients, top.Layers[layer.Tensor].Gradients);
    }

    [Fact]
    public void The_top_score_graph_takes_the_first_class_on_ties()
    {
        // y = [g + 0.25, 2 g], g the mean of Relu(x): for x = [1, -1, 0, 0], g = 0.25 and both scores are 0.5. Class 0's
        // gradient with respect to the layer is 1/4 at every position, class 1's 1/2.
        var model = new GraphBuilder("tie", 17)
            .Input("x", [null, 1, 2, 2]).Output("y", [null, 2])
            .Node("Relu", ["x"], ["layer"])
            .Node("GlobalAveragePool", ["layer"], ["g"])
            .Node("Flatten", ["g"], ["f"])
            .Initializer("w", [2, 1], [1f, 2f])
            .Initializer("b", [2], [0.25f, 0f])
            .Node("Gemm", ["f", "w", "b"], ["y"], attributes: Attributes.Int("transB", 1))
            .Build();
        using var explainer = Explainer.Create(model, "x", [1, 1, 2, 2], "y", new Dictionary<string, string>(), Sessions);
        var run = explainer.RunForTopScore([1f, -1f, 0f, 0f], [1, 1, 2, 2], [explainer.Layers.Single(l => l.Tensor == "layer")]);
        Assert.Equal([0.5f, 0.5f], run.Scores);
        Assert.Equal([0.25f, 0.25f, 0.25f, 0.25f], run.Layers["layer"].Gradients);
    }

    [Fact]
    public void An_operator_without_a_rule_is_named()
    {
        var model = new GraphBuilder("lrn", 17)
            .Input("x", [null, 1, 6, 6]).Output("y", [null, 2])
            .Node("Identity", ["x"], ["layer"])
            .Node("LRN", ["layer"], ["e"], attributes: Attributes.Int("size", 3))
            .Node("GlobalAveragePool", ["e"], ["g"])
            .Node("Flatten", ["g"], ["f"])
            .Initializer("w", [2, 1], [1f, -1f])
            .Node("Gemm", ["f", "w"], ["y"], attributes: Attributes.Int("transB", 1))
            .Build();
        var prepared = PreparedModel.Prepare(model, "x", [1, 1, 6, 6], Sessions);
        var error = Assert.Throws<NotSupportedException>(() => ExplanationGraph.Build(prepared, ["layer"], "y"));
        Assert.Contains("LRN", error.Message);
    }

    [Fact]
    public void The_self_check_at_load_refuses_a_layer_whose_gradient_is_wrong_and_says_why()
    {
        var (model, layer, inputShape) = ExporterPatterns.All["stem: Conv + BatchNorm + Relu, then RffConv, GAP, Gemm"]();
        var sessions = new SessionFactory(SessionSettings.Cpu);
        var rff = new Dictionary<string, string> { ["rff"] = "rff" };
        using var honest = Explainer.Create(model, "x", inputShape, "y", rff, sessions);
        Assert.Equal(["layer", "stem.bn", "stem.relu", "rff"], honest.Layers.Select(l => l.Tensor));
        Assert.All(honest.Layers, l => Assert.True(l.Usable, l.Refusal));
        Assert.Equal("rff", honest.DefaultLayer!.Name);

        // The same model with the first layer's gradient 5% too large in the graph the check runs.
        using var tampered = Explainer.Create(model, "x", inputShape, "y", rff, sessions, seed: 1,
            editCheckedGraph: graph => GradientTampering.Scale(graph, ExplanationGraph.GradientOutput(layer), 1.05f));
        var refused = tampered.Layers.Single(l => l.Tensor == layer);
        Assert.False(refused.Usable);
        Assert.Contains("disagrees with finite differences", refused.Refusal);
        Assert.All(tampered.Layers.Where(l => l.Tensor != layer), l => Assert.True(l.Usable, l.Refusal));
    }

    [Fact]
    public void The_self_check_refuses_no_correct_layer_where_relu_and_max_pooling_make_kinks_everywhere()
    {
        var (model, _, inputShape) = ExporterPatterns.PiecewiseLinear();
        var candidates = Explainer.Discover(model, "x", inputShape, "y", new Dictionary<string, string>(), Sessions);
        Assert.Subset(candidates.Layers.Select(l => l.Tensor).ToHashSet(), new HashSet<string> { "layer", "relu", "pool1", "branch", "residual", "pool2" });
        for (int seed = 1; seed <= 8; seed++)
        {
            using var explainer = Explainer.Check(candidates, Sessions, seed: seed);
            Assert.All(explainer.Layers, l => Assert.True(l.Usable, $"seed {seed}: {l.Name}: {l.Refusal}"));
        }
        // The same check still catches a gradient 5% too large on each of these layers.
        foreach (var layer in candidates.Layers)
        {
            using var tampered = Explainer.Check(candidates, Sessions, null, 1, g => GradientTampering.Scale(g, ExplanationGraph.GradientOutput(layer.Tensor), 1.05f), default);
            Assert.False(tampered.Layers.Single(l => l.Tensor == layer.Tensor).Usable, layer.Name);
        }
    }

    [Fact]
    public void Models_before_opset_13_are_refused_with_the_reason()
    {
        var model = new GraphBuilder("old", 11).Input("x", [null, 1, 4, 4]).Output("y", [null, 1, 4, 4]).Node("Relu", ["x"], ["y"]).Build();
        var error = Assert.Throws<NotSupportedException>(() => PreparedModel.Prepare(model, "x", [1, 1, 4, 4], Sessions));
        Assert.Contains("opset", error.Message);
    }

    [Fact]
    public void Constant_subgraphs_are_folded_into_initializers()
    {
        // sigma reaches Div through Identity, the bias through Reshape, the scale is Exp(log scale): all constants.
        var model = ExporterPatterns.All["chain: bias through Reshape before the division (no constant folding)"]().Model;
        var prepared = PreparedModel.Prepare(model, "x", [1, 1, 8, 8], Sessions);
        Assert.DoesNotContain(prepared.Model.Graph.Node, n => n.OpType is "Identity" or "Reshape" or "Constant" or "Exp");
        Assert.Contains(prepared.Model.Graph.Node, n => n.OpType == "Cos");
    }
}

/// <summary>Runs explanation graphs and finite differences for the tests.</summary>
internal static class GradientCheck
{

    private static readonly SessionFactory Sessions = new(SessionSettings.Cpu);

    /// <summary>
    /// The largest relative disagreement between the gradient graph's directional derivative and central finite
    /// differences, over random directions, for a random input and random target weights.
    /// </summary>
    public static double MaxRelativeError(ModelProto model, string layer, long[] inputShape, string score = "y", int directions = 4,
        IReadOnlyList<string>? alsoLayers = null, int seed = 3)
    {
        var layers = alsoLayers ?? [layer];
        var prepared = PreparedModel.Prepare(model, "x", inputShape, Sessions);
        using var session = Sessions.Create(ExplanationGraph.Build(prepared, layers, score));
        var random = new Random(seed);
        var input = Gaussian(random, Length(inputShape));
        long[] scoreShape = [.. prepared.Shapes[score]];
        scoreShape[0] = inputShape[0];
        var target = Gaussian(random, Length(scoreShape));
        var (activations, gradient) = Run(session.Session, layers, layer, input, inputShape, target, scoreShape, null, null);
        long[] layerShape = [.. prepared.Shapes[layer]];
        layerShape[0] = inputShape[0];
        double rms = Math.Sqrt(activations.Sum(a => (double)a * a) / activations.Length);
        double gradientNorm = Math.Sqrt(gradient.Sum(g => (double)g * g));
        double worst = 0;
        for (int d = 0; d < directions; d++)
        {
            var v = Gaussian(random, activations.Length);
            double Score(double step)
            {
                var delta = v.Select(e => (float)(step * e)).ToArray();
                var (scores, _) = Run(session.Session, layers, layer, input, inputShape, target, scoreShape, delta, layerShape, scoresOnly: true);
                return scores.Select((s, i) => (double)s * target[i]).Sum();
            }
            double Central(double h) => (Score(h) - Score(-h)) / (2 * h);
            double analytic = gradient.Select((g, i) => (double)g * v[i]).Sum();
            double floor = 1e-3 * gradientNorm * Math.Sqrt(v.Length);
            // Central differences, plain and Richardson-extrapolated, at step sizes from large (above float32 rounding) to
            // small (inside the linear pieces of ReLU and max pooling): the gradient must agree with one of them.
            double best = double.MaxValue;
            foreach (double fraction in new[] { 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4 })
            {
                double h = fraction * Math.Max(rms, 1e-2);
                double plain = Central(h), extrapolated = (4 * Central(h / 2) - plain) / 3;
                foreach (double finite in new[] { plain, extrapolated })
                    best = Math.Min(best, Math.Abs(finite - analytic) / Math.Max(Math.Max(Math.Abs(finite), Math.Abs(analytic)), floor));
            }
            worst = Math.Max(worst, best);
        }
        return worst;
    }

    /// <summary>The gradient of sum(target * score) with respect to the layer, for one input.</summary>
    public static float[] Gradient(ModelProto model, string layer, float[] input, long[] inputShape, float[] target, string score = "y")
    {
        var prepared = PreparedModel.Prepare(model, "x", inputShape, Sessions);
        using var session = Sessions.Create(ExplanationGraph.Build(prepared, [layer], score));
        long[] scoreShape = [.. prepared.Shapes[score]];
        scoreShape[0] = inputShape[0];
        return Run(session.Session, [layer], layer, input, inputShape, target, scoreShape, null, null).Second;
    }

    private static (float[] First, float[] Second) Run(InferenceSession session, IReadOnlyList<string> layers, string layer, float[] input, long[] inputShape,
        float[] target, long[] targetShape, float[]? delta, long[]? deltaShape, bool scoresOnly = false)
    {
        var names = new List<string> { "x", ExplanationGraph.TargetInput };
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(input, inputShape), OrtValue.CreateTensorValueFromMemory(target, targetShape) };
        foreach (var name in layers)
        {
            names.Add(ExplanationGraph.PerturbationInput(name));
            values.Add(name == layer && delta is not null ? OrtValue.CreateTensorValueFromMemory(delta, deltaShape!) : OrtValue.CreateTensorValueFromMemory(new float[1], [1, 1, 1, 1]));
        }
        try
        {
            string[] outputs = scoresOnly ? [session.OutputNames[0]] : [ExplanationGraph.ActivationOutput(layer), ExplanationGraph.GradientOutput(layer)];
            using var results = session.Run(new RunOptions(), names, values, outputs);
            return (results[0].GetTensorDataAsSpan<float>().ToArray(), scoresOnly ? [] : results[1].GetTensorDataAsSpan<float>().ToArray());
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    private static long Length(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    public static float[] Gaussian(Random random, long length) =>
        Enumerable.Range(0, (int)length).Select(_ => (float)RffLayerSpec.Gaussian(random)).ToArray();
}
