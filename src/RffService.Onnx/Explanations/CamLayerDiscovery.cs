namespace RffService.Onnx.Explanations;

/// <summary>
/// Finds the layers explanations can use: the RFF layers' outputs and every other 4-D float map (produced by a feature
/// operator, at least 2x2 at the nominal size) on the way from the input to the scores; the inner tensors of an RFF
/// layer are not listed. Each is marked with whether everything after it is affine (CAM is exact there).
/// </summary>
public static class CamLayerDiscovery
{
    /// <summary>Operators whose outputs are offered as feature maps.</summary>
    private static readonly HashSet<string> FeatureOps =
    [
        "Conv", "Relu", "LeakyRelu", "BatchNormalization", "Add", "Sum", "MaxPool", "AveragePool", "Sigmoid", "Tanh", "HardSwish",
        "HardSigmoid", "Clip", "Concat", "Cos", "Mul", "Sin",
    ];

    /// <summary>Operators that are affine in an input when the other operands are constant.</summary>
    private static readonly HashSet<string> AffineOps =
    [
        "Identity", "Dropout", "Cast", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "AveragePool",
        "GlobalAveragePool", "Pad", "ReduceMean", "ReduceSum", "Neg", "Add", "Sub", "Mul", "Div", "Gemm", "MatMul",
    ];

    /// <param name="rffOutputs">The RFF layers' output tensors, by layer name.</param>
    public static List<CamLayer> Find(PreparedModel prepared, string scoreOutput, IReadOnlyDictionary<string, string> rffOutputs)
    {
        var index = prepared.Index;
        var upstream = index.Upstream([scoreOutput]);
        var downstream = index.Downstream([prepared.InputName]);
        var rffByTensor = rffOutputs.ToDictionary(kv => kv.Value, kv => kv.Key);
        var inner = new HashSet<string>();
        foreach (var tensor in rffByTensor.Keys)
            for (var node = index.Producer(tensor); node is not null && node.OpType is "Mul" or "Cos" or "Add" or "Div" or "Sub";)
            {
                var previous = node.Input.FirstOrDefault(i => downstream.Contains(i) && !index.Initializers.ContainsKey(i));
                if (previous is null) break;
                inner.Add(previous);
                node = index.Producer(previous);
                if (node?.OpType == "Conv") { inner.Add(node.Output[0]); break; }
            }
        var layers = new List<CamLayer>();
        foreach (var node in index.Graph.Node)
        {
            string tensor = node.Output[0];
            if (tensor.Length == 0 || inner.Contains(tensor) || !upstream.Contains(tensor) || !downstream.Contains(tensor) || tensor == scoreOutput) continue;
            if (tensor.StartsWith(ModelEditor.AdaptedPrefix, StringComparison.Ordinal)) continue; // the input's conversion, not the model's

            bool rff = rffByTensor.ContainsKey(tensor);
            if (!rff && !FeatureOps.Contains(node.OpType)) continue;
            if (!prepared.IsFloat(tensor) || !prepared.Shapes.TryGetValue(tensor, out var shape) || shape.Length != 4 || shape[2] < 2 || shape[3] < 2) continue;
            string name = rff ? rffByTensor[tensor] : string.IsNullOrEmpty(node.Name) ? tensor : node.Name;
            layers.Add(new CamLayer(name, tensor, rff ? "rff" : node.OpType, shape[1], shape[2], shape[3], IsAffineAfter(prepared, tensor, scoreOutput), null));
        }
        return layers;
    }

    /// <summary>True when every node between the tensor and the scores is affine in it (the other operands constant).</summary>
    private static bool IsAffineAfter(PreparedModel prepared, string tensor, string scoreOutput)
    {
        var index = prepared.Index;
        var downstream = index.Downstream([tensor]);
        var upstream = index.Upstream([scoreOutput]);
        foreach (var node in index.Graph.Node)
        {
            if (!node.Output.Any(o => downstream.Contains(o) && upstream.Contains(o)) || node.Output.Contains(tensor)) continue;
            if (!AffineOps.Contains(node.OpType)) return false;
            if (node.OpType is "Mul" or "Div" or "Gemm" or "MatMul" && node.Input.Count(i => downstream.Contains(i)) > 1) return false;
            if (node.OpType is "Div" && downstream.Contains(node.Input[1])) return false;
            if (node.OpType is "Pad" && (node.Attribute.FirstOrDefault(a => a.Name == "mode")?.S.ToStringUtf8() ?? "constant") != "constant") return false;
        }
        return true;
    }
}
