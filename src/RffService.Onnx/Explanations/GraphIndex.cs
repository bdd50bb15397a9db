using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>Lookups over a graph: who produces and who consumes each tensor, which tensors are initializers.</summary>
public sealed class GraphIndex
{
    public GraphIndex(GraphProto graph)
    {
        Graph = graph;
        Initializers = graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First());
        var producers = new Dictionary<string, NodeProto>();
        foreach (var node in graph.Node)
            foreach (var output in node.Output.Where(o => o.Length > 0))
                producers[output] = node;
        Producers = producers;
        Consumers = graph.Node.SelectMany(n => n.Input.Where(i => i.Length > 0).Distinct().Select(i => (i, n))).ToLookup(p => p.i, p => p.n);
        Inputs = graph.Input.Select(i => i.Name).Where(n => !Initializers.ContainsKey(n)).ToList();
        Outputs = graph.Output.Select(o => o.Name).ToList();
    }

    public GraphProto Graph { get; }
    public IReadOnlyDictionary<string, TensorProto> Initializers { get; }
    public IReadOnlyDictionary<string, NodeProto> Producers { get; }
    public ILookup<string, NodeProto> Consumers { get; }
    /// <summary>The graph's real inputs (not initializers listed as inputs, as old exporters do).</summary>
    public IReadOnlyList<string> Inputs { get; }
    public IReadOnlyList<string> Outputs { get; }

    public NodeProto? Producer(string tensor) => Producers.GetValueOrDefault(tensor);

    /// <summary>The float values of a constant tensor (an initializer), or null.</summary>
    public float[]? ConstantFloats(string name) =>
        Initializers.TryGetValue(name, out var t) && t.DataType == (int)TensorProto.Types.DataType.Float ? Tensors.ToFloats(t) : null;

    /// <summary>The int64 values of a constant tensor (an initializer), or null.</summary>
    public long[]? ConstantInts(string name) =>
        Initializers.TryGetValue(name, out var t) && t.DataType == (int)TensorProto.Types.DataType.Int64 ? Tensors.ToInt64s(t) : null;

    /// <summary>Nodes whose inputs depend (transitively) on any of <paramref name="sources"/>, in graph order.</summary>
    public HashSet<string> Downstream(IEnumerable<string> sources)
    {
        var reached = new HashSet<string>(sources);
        foreach (var node in Graph.Node) // graph order is topological (ONNX requires it)
            if (node.Input.Any(reached.Contains))
                foreach (var output in node.Output) reached.Add(output);
        return reached;
    }

    /// <summary>Tensors the given outputs depend on (transitively), the outputs included.</summary>
    public HashSet<string> Upstream(IEnumerable<string> targets)
    {
        var needed = new HashSet<string>(targets);
        for (int i = Graph.Node.Count - 1; i >= 0; i--)
        {
            var node = Graph.Node[i];
            if (!node.Output.Any(needed.Contains)) continue;
            foreach (var input in node.Input.Where(n => n.Length > 0)) needed.Add(input);
        }
        return needed;
    }
}
