using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Explanations;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;
using RffService.TestSupport;

namespace RffService.Onnx.Tests;

/// <summary>
/// The side-by-side intervention graph in its two forms: downstream nodes run once on the doubled batch, or copied.
/// Each is compared with the model itself (the original outputs) and with the model whose layer is switched in place
/// (the intervened outputs), on every exporter pattern.
/// </summary>
public class InterventionGraphTests
{
    private static readonly SessionFactory Sessions = new(SessionSettings.Cpu);

    public static TheoryData<string> Cases() => [.. ExporterPatterns.All.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Both_side_by_side_forms_give_the_model_as_it_is_and_as_switched_in_place(string name)
    {
        var (model, _, inputShape) = ExporterPatterns.All[name]();
        var prepared = PreparedModel.Prepare(model, "x", inputShape, Sessions);
        var batched = InterventionGraph.Batched(prepared, ["layer"]);
        // "layer" feeds everything after it in these patterns: nothing upstream is read downstream.
        Assert.NotNull(batched);
        AssertSideBySide(prepared, ["layer"], batched, inputShape);
        AssertSideBySide(prepared, ["layer"], InterventionGraph.Copied(prepared, ["layer"]), inputShape);
    }

    [Fact]
    public void Two_layers_one_after_the_other_switch_only_the_intervened_half()
    {
        var (model, _, inputShape) = ExporterPatterns.All["stem: Conv + BatchNorm + Relu, then RffConv, GAP, Gemm"]();
        var prepared = PreparedModel.Prepare(model, "x", inputShape, Sessions);
        string[] layers = ["stem.relu", "rff"];
        var batched = InterventionGraph.Batched(prepared, layers);
        Assert.NotNull(batched);
        AssertSideBySide(prepared, layers, batched, inputShape);
        AssertSideBySide(prepared, layers, InterventionGraph.Copied(prepared, layers), inputShape);
    }

    [Fact]
    public void A_skip_connection_around_the_layer_keeps_the_copied_form()
    {
        var (model, _, inputShape) = ExporterPatterns.All["residual RFF block: y = x + rff(x)"]();
        var prepared = PreparedModel.Prepare(model, "x", inputShape, Sessions);
        // The RFF branch's output: the Add also reads "layer", computed upstream of it.
        string branch = prepared.Model.Graph.Node.Single(n => n.OpType == "Add" && n.Input.Contains("layer")).Input.Single(i => i != "layer");
        Assert.Null(InterventionGraph.Batched(prepared, [branch]));
        var sideBySide = InterventionGraph.SideBySide(prepared, [branch]);
        Assert.Contains(sideBySide.Graph.Node, n => n.Name.StartsWith("intervene/copy", StringComparison.Ordinal));
        AssertSideBySide(prepared, [branch], sideBySide, inputShape);
    }

    /// <summary>
    /// Runs <paramref name="sideBySide"/> on a batch of three inputs with half the cells switched (to random values) and
    /// compares its outputs with the model's own and with the in-place intervened model's.
    /// </summary>
    private static void AssertSideBySide(PreparedModel prepared, IReadOnlyList<string> layers, ModelProto sideBySide, long[] inputShape)
    {
        var random = new Random(5);
        long[] batch = [3, .. inputShape[1..]];
        var input = Values(random, batch);
        var switches = layers.ToDictionary(l => l, l =>
        {
            long[] shape = [1, .. prepared.Shapes[l][1..]];
            var mask = Values(random, shape).Select(v => v > 0 ? 1f : 0f).ToArray();
            return (Mask: mask, Values: Values(random, shape), Shape: shape);
        });
        var switchInputs = switches.SelectMany(s => new[]
        {
            (InterventionGraph.MaskInput(s.Key), s.Value.Mask, s.Value.Shape),
            (InterventionGraph.ValueInput(s.Key), s.Value.Values, s.Value.Shape),
        }).ToList();
        string output = prepared.Model.Graph.Output[0].Name;

        var both = Run(sideBySide, [("x", input, batch), .. switchInputs], [output, InterventionGraph.IntervenedOutput(output)]);
        var original = Run(prepared.Model, [("x", input, batch)], [output])[0];
        var inPlace = Run(InterventionGraph.InPlace(prepared, layers).Model, [("x", input, batch), .. switchInputs], [output])[0];

        Assert.Equal(original.Shape, both[0].Shape);
        Assert.Equal(inPlace.Shape, both[1].Shape);
        AssertClose(original.Values, both[0].Values);
        AssertClose(inPlace.Values, both[1].Values);
        // The switch does something here (else the comparison above would hold by construction).
        Assert.True(original.Values.Zip(inPlace.Values).Any(p => Math.Abs(p.First - p.Second) > 1e-4), "the switch changed nothing");
    }

    private static float[] Values(Random random, long[] shape) =>
        Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 + 1e-5 * Math.Abs(expected[i]), $"[{i}]: {expected[i]} vs {actual[i]}");
    }

    private static List<(float[] Values, long[] Shape)> Run(ModelProto model, IReadOnlyList<(string Name, float[] Values, long[] Shape)> inputs,
        IReadOnlyList<string> outputs)
    {
        using var session = Sessions.Create(model);
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Values, i.Shape)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Session.Run(runOptions, inputs.Select(i => i.Name).ToList(), values, outputs);
            return results.Select(r => (r.GetTensorDataAsSpan<float>().ToArray(), r.GetTensorTypeAndShape().Shape)).ToList();
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }
}
