using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>The subgraphs of control-flow nodes (If's branches, Loop's and Scan's bodies) and what they read from outside.</summary>
public static class Subgraphs
{
    /// <summary>The graphs held in a node's attributes.</summary>
    public static IEnumerable<GraphProto> Of(NodeProto node) =>
        node.Attribute.SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Prepend(a.G));

    /// <summary>
    /// The tensors of the enclosing scope a node's subgraphs use (ONNX's implicit inputs): names read inside, at any
    /// depth, that the subgraph neither declares as an input or initializer nor produces.
    /// </summary>
    public static IReadOnlySet<string> OuterInputs(NodeProto node)
    {
        var result = new HashSet<string>();
        foreach (var graph in Of(node)) Collect(graph, result);
        return result;
    }

    private static void Collect(GraphProto graph, HashSet<string> outer)
    {
        var local = graph.Input.Select(i => i.Name).Concat(graph.Initializer.Select(t => t.Name)).Concat(graph.Node.SelectMany(n => n.Output)).ToHashSet();
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input.Where(i => i.Length > 0 && !local.Contains(i))) outer.Add(input);
            foreach (var inner in OuterInputs(node).Where(i => !local.Contains(i))) outer.Add(inner);
        }
        foreach (var output in graph.Output.Where(o => !local.Contains(o.Name))) outer.Add(output.Name);
    }
}
