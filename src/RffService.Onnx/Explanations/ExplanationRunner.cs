using Microsoft.ML.OnnxRuntime;

namespace RffService.Onnx.Explanations;

/// <summary>
/// Runs the graphs <see cref="ExplanationGraph"/> builds: feeds the input, the target and one perturbation per layer of
/// the graph (zeros of shape [1, 1, 1, 1] where none is given), and reads the outputs back by name, so a graph built for
/// a set of layers serves them in any order.
/// </summary>
internal static class ExplanationRunner
{
    /// <summary>The scores and, for <paramref name="layers"/>, activations and gradients; <paramref name="graphLayers"/> are all the graph was built for.</summary>
    public static ExplanationRun Gradients(InferenceSession session, string inputName, string scoreOutput, float[] input, long[] inputShape,
        (float[] Values, long[] Shape)? target, IReadOnlyList<CamLayer> layers, IReadOnlyList<CamLayer> graphLayers,
        IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? deltas, IReadOnlyList<(string Name, (float[] Values, long[] Shape) Value)>? fixedInputs = null)
    {
        var outputNames = new List<string> { scoreOutput };
        foreach (var layer in layers)
            outputNames.AddRange([ExplanationGraph.ActivationOutput(layer.Tensor), ExplanationGraph.GradientOutput(layer.Tensor)]);
        (string, (float[], long[]))[] extra = target is { } t ? [(ExplanationGraph.TargetInput, t), .. fixedInputs ?? []] : [.. fixedInputs ?? []];
        return Run(session, inputName, input, inputShape, extra, graphLayers, deltas, outputNames, outputs =>
        {
            var perLayer = new Dictionary<string, (float[], float[], long[])>();
            for (int i = 0; i < layers.Count; i++)
                perLayer[layers[i].Tensor] = (outputs[1 + 2 * i].GetTensorDataAsSpan<float>().ToArray(), outputs[2 + 2 * i].GetTensorDataAsSpan<float>().ToArray(),
                    outputs[1 + 2 * i].GetTensorTypeAndShape().Shape);
            return new ExplanationRun(outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[0].GetTensorTypeAndShape().Shape, perLayer);
        });
    }

    /// <summary>The score output of a forward graph for a batch whose layers are moved by <paramref name="deltas"/>.</summary>
    public static float[] Scores(InferenceSession session, string inputName, string scoreOutput, float[] inputs, long[] inputShape,
        IReadOnlyList<CamLayer> graphLayers, IReadOnlyDictionary<string, (float[] Values, long[] Shape)> deltas,
        IReadOnlyList<(string Name, (float[] Values, long[] Shape) Value)>? fixedInputs = null) =>
        Run(session, inputName, inputs, inputShape, [.. fixedInputs ?? []], graphLayers, deltas, [scoreOutput], outputs => outputs[0].GetTensorDataAsSpan<float>().ToArray());

    /// <summary>Runs a graph on the input and <paramref name="extra"/> inputs (no perturbations) and reads <paramref name="outputNames"/>.</summary>
    public static Dictionary<string, (float[] Values, long[] Shape)> Outputs(InferenceSession session, string inputName, float[] input, long[] inputShape,
        IReadOnlyList<(string Name, (float[] Values, long[] Shape) Value)> extra, IReadOnlyList<string> outputNames) =>
        Run(session, inputName, input, inputShape, [.. extra], [], null, outputNames, outputs =>
            outputNames.Select((name, i) => (name, outputs[i])).ToDictionary(o => o.name,
                o => (o.Item2.GetTensorDataAsSpan<float>().ToArray(), o.Item2.GetTensorTypeAndShape().Shape)));

    private static T Run<T>(InferenceSession session, string inputName, float[] input, long[] inputShape, (string Name, (float[] Values, long[] Shape) Value)[] extra,
        IReadOnlyList<CamLayer> graphLayers, IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? deltas, IReadOnlyList<string> outputNames,
        Func<IDisposableReadOnlyCollection<OrtValue>, T> read)
    {
        var names = new List<string> { inputName };
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(input, inputShape) };
        try
        {
            foreach (var (name, value) in extra)
            {
                names.Add(name);
                values.Add(OrtValue.CreateTensorValueFromMemory(value.Values, value.Shape));
            }
            foreach (var layer in graphLayers)
            {
                names.Add(ExplanationGraph.PerturbationInput(layer.Tensor));
                values.Add(deltas is not null && deltas.TryGetValue(layer.Tensor, out var delta)
                    ? OrtValue.CreateTensorValueFromMemory(delta.Values, delta.Shape)
                    : OrtValue.CreateTensorValueFromMemory(new float[1], [1, 1, 1, 1]));
            }
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, names, values, outputNames);
            return read(outputs);
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }
}
