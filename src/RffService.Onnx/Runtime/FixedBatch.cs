using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;

namespace RffService.Onnx.Runtime;

/// <summary>
/// A plain <c>torch.onnx.export(model, dummy, path)</c> (no <c>dynamic_axes</c>) fixes the batch axis at the dummy's
/// size, 1. Most such graphs compute every image independently and would run batches if only the declared shapes let
/// them; some bake the batch size into a constant (a Reshape to [1, -1]) and cannot.
/// </summary>
public static class FixedBatch
{
    /// <summary>
    /// The model with a symbolic batch axis on its input and on every output declared with batch 1, when a batch of two
    /// different images gives, image by image, what the file as written gives for each alone; otherwise null (the model
    /// is left as it is and runs one image at a time). Models whose input batch is already symbolic are not touched.
    /// </summary>
    public static ModelProto? Relax(ModelProto model, SessionFactory sessions)
    {
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet();
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1 || inputs[0].Type?.TensorType?.Shape is not { Dim.Count: 4 } shape) return null;
        if (shape.Dim[0].ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || shape.Dim[0].DimValue != 1) return null;
        if (shape.Dim.Skip(1).Any(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue < 1)) return null;
        var type = (TensorProto.Types.DataType)inputs[0].Type.TensorType.ElemType;
        if (type is not (TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Uint8)) return null;

        var candidate = model.Clone();
        Symbolic(candidate.Graph.Input.Single(i => i.Name == inputs[0].Name));
        foreach (var output in candidate.Graph.Output)
            if (output.Type?.TensorType?.Shape is { Dim.Count: > 0 } dims && dims.Dim[0].DimValue == 1) Symbolic(output);
        candidate.Graph.ValueInfo.Clear(); // intermediate shapes recorded at export would pin the batch again

        long[] one = shape.Dim.Select(d => d.DimValue).ToArray();
        long size = one.Aggregate(1L, (a, b) => a * b);
        var random = new Random(29);
        var first = Enumerable.Range(0, (int)size).Select(_ => (float)random.NextDouble()).ToArray();
        var second = Enumerable.Range(0, (int)size).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        try
        {
            using var asWritten = sessions.Create(model);
            using var relaxed = sessions.Create(candidate);
            var outputs = asWritten.Session.OutputNames;
            var alone = new[] { Run(asWritten, type, first, one, outputs), Run(asWritten, type, second, one, outputs) };
            var together = Run(relaxed, type, [.. first, .. second], [2, .. one[1..]], outputs);
            for (int o = 0; o < outputs.Count; o++)
            {
                var (values, dims) = together[o];
                if (dims.Length == 0 || dims[0] != 2 || values.Length != alone[0][o].Values.Length + alone[1][o].Values.Length) return null;
                int half = values.Length / 2;
                if (!Close(values.AsSpan(0, half), alone[0][o].Values) || !Close(values.AsSpan(half), alone[1][o].Values)) return null;
            }
            return candidate;
        }
        catch (OnnxRuntimeException)
        {
            return null; // the graph cannot run a batch of two
        }
    }

    private static void Symbolic(ValueInfoProto value) =>
        value.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "batch" };

    /// <param name="input">Values in [-1, 1): for a uint8 input, pixels 0-255 made of them.</param>
    private static List<(float[] Values, long[] Shape)> Run(OrtSession session, TensorProto.Types.DataType type, float[] input, long[] shape, IReadOnlyList<string> outputs)
    {
        using var value = type switch
        {
            TensorProto.Types.DataType.Uint8 => OrtValue.CreateTensorValueFromMemory(input.Select(v => (byte)Math.Clamp(MathF.Round(127.5f * (v + 1)), 0, 255)).ToArray(), shape),
            TensorProto.Types.DataType.Float16 => OrtValue.CreateTensorValueFromMemory(input.Select(v => (Float16)v).ToArray(), shape),
            _ => OrtValue.CreateTensorValueFromMemory(input, shape),
        };
        using var options = new RunOptions();
        using var results = session.Session.Run(options, [session.Session.InputNames[0]], [value], outputs);
        return results.Select(r => r.GetTensorTypeAndShape().ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float
            ? (r.GetTensorDataAsSpan<float>().ToArray(), r.GetTensorTypeAndShape().Shape)
            : (new float[r.GetTensorTypeAndShape().ElementCount], r.GetTensorTypeAndShape().Shape)).ToList();
    }

    private static bool Close(ReadOnlySpan<float> actual, float[] expected)
    {
        if (actual.Length != expected.Length) return false;
        for (int i = 0; i < actual.Length; i++)
            if (!(Math.Abs(actual[i] - expected[i]) <= 1e-4f * Math.Max(1f, Math.Abs(expected[i])))) return false;
        return true;
    }
}
