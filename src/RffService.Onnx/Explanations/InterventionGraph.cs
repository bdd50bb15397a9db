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
    /// switched: everything upstream of the layers runs once and the part downstream for both networks (one pass gives
    /// both answers). The downstream part runs once on a doubled batch where it can (<see cref="Batched"/>), else twice.
    /// </summary>
    public static ModelProto SideBySide(PreparedModel prepared, IReadOnlyList<string> layers) =>
        Batched(prepared, layers) ?? Copied(prepared, layers);

    /// <summary>
    /// The side-by-side graph with the downstream nodes run once on the batch [as it is; switched] (a batch of N becomes
    /// 2N at each switched layer and is split back at the outputs): one run of each node instead of two, which costs less
    /// than the two branches of <see cref="Copied"/> on small inputs. Null where a downstream node also reads a tensor
    /// computed upstream (a skip connection around the layer: its batch would not match) or holds a subgraph; the
    /// prepared model is known to run batches (its probe runs two images), and images of a batch are independent.
    /// </summary>
    internal static ModelProto? Batched(PreparedModel prepared, IReadOnlyList<string> layers)
    {
        var model = prepared.Model.Clone();
        var graph = model.Graph;
        var switched = layers.ToHashSet();
        var constants = graph.Initializer.Select(i => i.Name).ToHashSet();
        var pairs = new Dictionary<string, string>(); // tensor -> the name of its doubled batch [as it is; switched]
        var nodes = graph.Node.ToList();
        graph.Node.Clear();
        foreach (var node in nodes)
        {
            var inputs = node.Input.Where(i => i.Length > 0).ToList();
            if (inputs.Any(pairs.ContainsKey))
            {
                if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0)) return null;
                if (inputs.Any(i => !pairs.ContainsKey(i) && !constants.Contains(i))) return null;
                for (int i = 0; i < node.Input.Count; i++)
                    if (pairs.TryGetValue(node.Input[i], out var pair)) node.Input[i] = pair;
                for (int i = 0; i < node.Output.Count; i++)
                {
                    if (node.Output[i].Length == 0) continue;
                    pairs[node.Output[i]] = $"intervene/pair/{node.Output[i]}";
                    node.Output[i] = pairs[node.Output[i]];
                }
            }
            graph.Node.Add(node);
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                string original = output.StartsWith("intervene/pair/", StringComparison.Ordinal) ? output["intervene/pair/".Length..] : output;
                if (!switched.Contains(original)) continue;
                string asItIs = original, toSwitch = original, result = $"intervene/switched/{original}";
                if (pairs.TryGetValue(original, out var pair))
                {
                    asItIs = $"intervene/first/{original}";
                    toSwitch = $"intervene/second/{original}";
                    graph.Node.Add(Halve(prepared.Opset, pair, asItIs, toSwitch));
                }
                graph.Node.AddRange(Switch(toSwitch, original, result));
                string doubled = $"intervene/pair/{original}/switched";
                var concat = new NodeProto { OpType = "Concat", Name = $"intervene/concat/{original}" };
                concat.Input.AddRange([asItIs, result]);
                concat.Output.Add(doubled);
                concat.Attribute.Add(new AttributeProto { Name = "axis", I = 0, Type = AttributeProto.Types.AttributeType.Int });
                graph.Node.Add(concat);
                pairs[original] = doubled;
                AddInputs(graph, original);
            }
        }
        foreach (var output in graph.Output.ToList())
        {
            if (pairs.TryGetValue(output.Name, out var pair))
                graph.Node.Add(Halve(prepared.Opset, pair, output.Name, IntervenedOutput(output.Name)));
            else
            {
                var identity = new NodeProto { OpType = "Identity", Name = $"intervene/out/{output.Name}" };
                identity.Input.Add(output.Name);
                identity.Output.Add(IntervenedOutput(output.Name));
                graph.Node.Add(identity);
            }
            graph.Output.Add(new ValueInfoProto { Name = IntervenedOutput(output.Name), Type = output.Type.Clone() });
        }
        graph.ValueInfo.Clear(); // shapes recorded for batch N no longer hold downstream
        return model;
    }

    /// <summary>Splits a doubled batch into its two halves (axis 0).</summary>
    private static NodeProto Halve(long opset, string pair, string first, string second)
    {
        var split = new NodeProto { OpType = "Split", Name = $"intervene/split/{first}" };
        split.Input.Add(pair);
        split.Output.AddRange([first, second]);
        split.Attribute.Add(new AttributeProto { Name = "axis", I = 0, Type = AttributeProto.Types.AttributeType.Int });
        if (opset >= 18) split.Attribute.Add(new AttributeProto { Name = "num_outputs", I = 2, Type = AttributeProto.Types.AttributeType.Int });
        return split;
    }

    /// <summary>The side-by-side graph with a copy of every downstream node reading the switched tensors.</summary>
    internal static ModelProto Copied(PreparedModel prepared, IReadOnlyList<string> layers)
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
