using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>
/// Activations switched at one layer: <c>A' = A + M (V - A)</c>, M 1 where switched off and 0 elsewhere, V what they
/// become (zeros, or a blank image's activations). Both are [1, C, h, w] at the model's nominal size.
/// </summary>
public sealed record LayerIntervention(CamLayer Layer, float[] Mask, float[] Values)
{
    public long[] Shape => [1, Layer.Channels, Layer.Height, Layer.Width];
}

/// <summary>
/// Graphs derived from a prepared model in which chosen layers' activations are switched by <see cref="LayerIntervention"/>s:
/// M and V are inputs of the graph, so one graph per set of layers serves every choice of channels, cells and values.
/// </summary>
internal static class InterventionGraph
{
    public static string MaskInput(string layer) => $"intervene/mask/{layer}";
    public static string ValueInput(string layer) => $"intervene/value/{layer}";
    /// <summary>The name of an output of the side-by-side graph as it is with the intervention.</summary>
    public static string IntervenedOutput(string output) => $"intervene/out/{output}";

    /// <summary>
    /// The model with every consumer of each layer reading the switched activations (the intervened network):
    /// explanation graphs built on it explain what the model does without them.
    /// </summary>
    public static PreparedModel InPlace(PreparedModel prepared, IReadOnlyList<string> layers)
    {
        var model = prepared.Model.Clone();
        var graph = model.Graph;
        var shapes = new Dictionary<string, long[]>(prepared.Shapes);
        var types = new Dictionary<string, int>(prepared.Types);
        foreach (var layer in layers)
        {
            var nodes = graph.Node.ToList();
            int producer = nodes.FindIndex(n => n.Output.Contains(layer));
            string raw = $"intervene/raw/{layer}";
            var node = nodes[producer];
            node.Output[node.Output.IndexOf(layer)] = raw;
            var added = Switch(raw, layer, layer);
            for (int i = 0; i < added.Count; i++) graph.Node.Insert(producer + 1 + i, added[i]);
            foreach (var tensor in added.SelectMany(n => n.Output).Append(raw))
            {
                shapes[tensor] = prepared.Shapes[layer];
                types[tensor] = (int)TensorProto.Types.DataType.Float;
            }
            AddInputs(graph, layer);
            foreach (var input in new[] { MaskInput(layer), ValueInput(layer) })
            {
                shapes[input] = [1, .. prepared.Shapes[layer][1..]];
                types[input] = (int)TensorProto.Types.DataType.Float;
            }
        }
        return prepared.Derive(model, shapes, types);
    }

    /// <summary>
    /// The model's outputs as they are and, under <see cref="IntervenedOutput"/> names, as they are with the layers
    /// switched: the nodes downstream of the layers run twice, everything upstream once (one pass gives both answers).
    /// </summary>
    public static ModelProto SideBySide(PreparedModel prepared, IReadOnlyList<string> layers)
    {
        var model = prepared.Model.Clone();
        var graph = model.Graph;
        var switched = layers.ToHashSet();
        var copies = new Dictionary<string, string>(); // tensor -> its value in the intervened network
        var nodes = graph.Node.ToList();
        graph.Node.Clear();
        int copyIndex = 0;
        foreach (var node in nodes)
        {
            graph.Node.Add(node);
            var produced = node;
            if (node.Input.Any(copies.ContainsKey))
            {
                produced = node.Clone();
                produced.Name = $"intervene/copy{copyIndex++}/{node.Name}";
                for (int i = 0; i < produced.Input.Count; i++)
                    if (copies.TryGetValue(produced.Input[i], out var copy)) produced.Input[i] = copy;
                for (int i = 0; i < produced.Output.Count; i++)
                {
                    if (produced.Output[i].Length == 0) continue;
                    string name = $"intervene/copy/{produced.Output[i]}";
                    copies[produced.Output[i]] = name;
                    produced.Output[i] = name;
                }
                graph.Node.Add(produced);
            }
            foreach (var output in node.Output.Where(switched.Contains))
            {
                string source = copies.GetValueOrDefault(output, output), result = $"intervene/switched/{output}";
                graph.Node.AddRange(Switch(source, output, result));
                copies[output] = result;
                AddInputs(graph, output);
            }
        }
        foreach (var output in graph.Output.ToList())
        {
            var identity = new NodeProto { OpType = "Identity", Name = $"intervene/out/{output.Name}" };
            identity.Input.Add(copies.GetValueOrDefault(output.Name, output.Name));
            identity.Output.Add(IntervenedOutput(output.Name));
            graph.Node.Add(identity);
            graph.Output.Add(new ValueInfoProto { Name = IntervenedOutput(output.Name), Type = output.Type.Clone() });
        }
        return model;
    }

    /// <summary>Nodes computing <c>result = source + M (V - source)</c> with the inputs of <paramref name="layer"/>.</summary>
    private static List<NodeProto> Switch(string source, string layer, string result)
    {
        NodeProto Node(string op, string a, string b, string output)
        {
            var node = new NodeProto { OpType = op, Name = $"intervene/{op.ToLowerInvariant()}/{output}" };
            node.Input.AddRange([a, b]);
            node.Output.Add(output);
            return node;
        }
        string difference = $"intervene/difference/{result}", masked = $"intervene/masked/{result}";
        return
        [
            Node("Sub", ValueInput(layer), source, difference),
            Node("Mul", MaskInput(layer), difference, masked),
            Node("Add", source, masked, result),
        ];
    }

    private static void AddInputs(GraphProto graph, string layer)
    {
        foreach (var name in new[] { MaskInput(layer), ValueInput(layer) })
        {
            var shape = new TensorShapeProto();
            for (int i = 0; i < 4; i++) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = $"{name}_d{i}" });
            graph.Input.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
            });
        }
    }
}
