using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;

namespace RffService.Onnx.Explanations;

/// <summary>
/// Evaluates once, with ONNX Runtime, every tensor that depends on initializers and Constant nodes only (the subgraphs
/// exporters leave behind: shared constants through Identity, biases through Reshape or Unsqueeze, sigma through Exp,
/// casts), and replaces those nodes by initializers. The result computes the same function with every constant explicit.
/// </summary>
public static class ConstantFolder
{
    public static ModelProto Fold(ModelProto model, SessionFactory sessions)
    {
        var graph = model.Graph;
        var index = new GraphIndex(graph);
        var constant = new HashSet<string>(index.Initializers.Keys);
        var constantNodes = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            // A node with subgraphs (If, Loop, Scan) also reads the outer tensors its subgraphs use: constant only if they are.
            if (node.Input.Concat(Subgraphs.OuterInputs(node)).Where(i => i.Length > 0).All(constant.Contains) && node.Domain is "" or "ai.onnx" && IsDeterministic(node))
            {
                constantNodes.Add(node);
                foreach (var output in node.Output) constant.Add(output);
            }
        }
        if (constantNodes.Count == 0) return model;

        var kept = graph.Node.Except(constantNodes).ToList();
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet();
        var frontier = constantNodes.SelectMany(n => n.Output)
            .Where(o => o.Length > 0 && (kept.Any(n => n.Input.Contains(o) || Subgraphs.OuterInputs(n).Contains(o)) || graphOutputs.Contains(o)))
            .Distinct().ToList();
        var folded = model.Clone();
        if (frontier.Count > 0)
        {
            var types = ElementTypes.Infer(graph);
            var evaluator = model.Clone();
            evaluator.Graph.Node.Clear();
            evaluator.Graph.Node.AddRange(constantNodes.Select(n => n.Clone()));
            evaluator.Graph.Input.Clear();
            evaluator.Graph.Output.Clear();
            foreach (var name in frontier)
                evaluator.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = types[name] } } });
            using var session = sessions.Create(evaluator);
            using var runOptions = new RunOptions();
            using var values = session.Session.Run(runOptions, [], [], frontier);
            for (int i = 0; i < frontier.Count; i++) folded.Graph.Initializer.Add(ToTensor(frontier[i], values[i]));
        }
        folded.Graph.Node.Clear();
        folded.Graph.Node.AddRange(kept.Select(n => n.Clone()));
        var used = folded.Graph.Node.SelectMany(n => n.Input.Concat(Subgraphs.OuterInputs(n))).Concat(graphOutputs).ToHashSet();
        var unused = folded.Graph.Initializer.Where(t => !used.Contains(t.Name)).ToList();
        foreach (var tensor in unused) folded.Graph.Initializer.Remove(tensor);
        return folded;
    }

    private static bool IsDeterministic(NodeProto node) => node.OpType is not ("RandomNormal" or "RandomUniform" or "RandomNormalLike" or "RandomUniformLike" or "Multinomial" or "Bernoulli");

    private static TensorProto ToTensor(string name, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        var dims = info.Shape;
        return info.ElementDataType switch
        {
            TensorElementType.Float => Tensors.FromFloats(name, dims, value.GetTensorDataAsSpan<float>()),
            TensorElementType.Int64 => Tensors.FromInt64s(name, dims, value.GetTensorDataAsSpan<long>()),
            _ => Raw(name, dims, info.ElementDataType, value),
        };
    }

    private static TensorProto Raw(string name, long[] dims, TensorElementType type, OrtValue value)
    {
        var (dataType, bytes) = type switch
        {
            TensorElementType.Int32 => (TensorProto.Types.DataType.Int32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.GetTensorDataAsSpan<int>()).ToArray()),
            TensorElementType.Bool => (TensorProto.Types.DataType.Bool, System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.GetTensorDataAsSpan<bool>()).ToArray()),
            TensorElementType.Double => (TensorProto.Types.DataType.Double, System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.GetTensorDataAsSpan<double>()).ToArray()),
            TensorElementType.Int8 => (TensorProto.Types.DataType.Int8, System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.GetTensorDataAsSpan<sbyte>()).ToArray()),
            TensorElementType.UInt8 => (TensorProto.Types.DataType.Uint8, value.GetTensorDataAsSpan<byte>().ToArray()),
            _ => throw new NotSupportedException($"a constant of element type {type} cannot be folded"),
        };
        var tensor = new TensorProto { Name = name, DataType = (int)dataType, RawData = Google.Protobuf.ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }
}
