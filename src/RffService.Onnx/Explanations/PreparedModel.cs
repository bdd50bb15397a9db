using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;

namespace RffService.Onnx.Explanations;

/// <summary>
/// A model made ready for explanations: functions inlined (RffConv becomes Conv, Cos, Mul), constants folded into
/// initializers, the element type of every tensor, and the shape of every float tensor from one probe run on a seeded
/// random input of batch 2 at the model's nominal size (explanation graphs read broadcasting and channel counts from it).
/// </summary>
public sealed class PreparedModel
{
    public const int MinimumOpset = 13;

    private PreparedModel(ModelProto model, string input, long[] inputShape, Dictionary<string, int> types, Dictionary<string, long[]> shapes,
        IReadOnlyDictionary<string, long[]> probedInts)
    {
        ProbedInts = probedInts;
        Model = model;
        Index = new GraphIndex(model.Graph);
        InputName = input;
        InputShape = inputShape;
        Types = types;
        Shapes = shapes;
        Opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
    }

    public ModelProto Model { get; }
    public GraphIndex Index { get; }
    public string InputName { get; }
    /// <summary>The probe's input shape [2, C, H, W].</summary>
    public long[] InputShape { get; }
    public IReadOnlyDictionary<string, int> Types { get; }
    public IReadOnlyDictionary<string, long[]> Shapes { get; }
    public long Opset { get; }
    /// <summary>
    /// The values the probe run computed for the starts, ends, axes and steps of Slice nodes that the graph computes
    /// (torchvision's channel split, x.chunk(2, dim=1), takes them from the tensor's shape).
    /// </summary>
    public IReadOnlyDictionary<string, long[]> ProbedInts { get; }

    /// <summary>The same model with more tensors' shapes and types known (the explanation graph's own tensors).</summary>
    public PreparedModel WithShapes(Dictionary<string, long[]> shapes, Dictionary<string, int> types) =>
        new(Model, InputName, InputShape, types, shapes, ProbedInts);

    /// <summary>A model derived from this one (an intervention's switches added), with its new tensors' shapes and types.</summary>
    internal PreparedModel Derive(ModelProto model, Dictionary<string, long[]> shapes, Dictionary<string, int> types) =>
        new(model, InputName, InputShape, types, shapes, ProbedInts);

    public bool IsFloat(string tensor) => Types.TryGetValue(tensor, out int type) && ElementTypes.IsFloat(type);

    /// <param name="inputShape">The input at its nominal size, batch first (the batch is probed as 2).</param>
    public static PreparedModel Prepare(ModelProto model, string inputName, long[] inputShape, SessionFactory sessions)
    {
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        if (opset < MinimumOpset)
            throw new NotSupportedException($"the model uses ONNX opset {opset}; explanations need opset {MinimumOpset} or later (export with opset_version >= {MinimumOpset})");
        var prepared = ConstantFolder.Fold(FunctionInliner.Inline(model), sessions);
        var types = ElementTypes.Infer(prepared.Graph);
        long[] shape = [2, .. inputShape[1..]];
        var (shapes, ints) = Probe(prepared, inputName, shape, types, sessions);
        return new PreparedModel(prepared, inputName, shape, types, shapes, ints);
    }

    /// <summary>
    /// Runs the model once with every float tensor exposed and returns their shapes, and the values of the computed
    /// int64 inputs of Slice nodes.
    /// </summary>
    private static (Dictionary<string, long[]> Shapes, Dictionary<string, long[]> Ints) Probe(ModelProto model, string inputName, long[] shape,
        Dictionary<string, int> types, SessionFactory sessions)
    {
        var probe = model.Clone();
        var declared = probe.Graph.Output.Select(o => o.Name).ToHashSet();
        var constants = model.Graph.Initializer.Select(i => i.Name).ToHashSet();
        var sliceInts = probe.Graph.Node.Where(n => n.OpType == "Slice").SelectMany(n => n.Input.Skip(1))
            .Where(i => i.Length > 0 && !constants.Contains(i) && types.GetValueOrDefault(i) == (int)TensorProto.Types.DataType.Int64).Distinct().ToList();
        foreach (var name in sliceInts.Where(n => !declared.Contains(n)))
            probe.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Int64 } } });
        var names = probe.Graph.Node.SelectMany(n => n.Output).Where(o => o.Length > 0 && ElementTypes.IsFloat(types.GetValueOrDefault(o))).Distinct().ToList();
        foreach (var name in names.Where(n => !declared.Contains(n)))
            probe.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = types[name] } } });
        var random = new Random(17);
        var input = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
        using var session = sessions.Create(probe);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Session.Run(runOptions, [inputName], [value], [.. names, .. sliceInts]);
        var shapes = new Dictionary<string, long[]> { [inputName] = shape };
        for (int i = 0; i < names.Count; i++) shapes[names[i]] = outputs[i].GetTensorTypeAndShape().Shape;
        foreach (var initializer in model.Graph.Initializer) shapes[initializer.Name] = initializer.Dims.ToArray();
        var ints = new Dictionary<string, long[]>();
        for (int i = 0; i < sliceInts.Count; i++) ints[sliceInts[i]] = outputs[names.Count + i].GetTensorDataAsSpan<long>().ToArray();
        return (shapes, ints);
    }
}
