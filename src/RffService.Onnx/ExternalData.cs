using Google.Protobuf;
using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>
/// Tensors whose data lives in files beside the model (<c>torch.onnx.export</c> writes them for models over 2 GB, and
/// on request): read once, at load, into the model, so every session and graph built later is built from what was
/// loaded and nothing depends on the working directory or on the files staying put. A location must be a file in the
/// model's folder: absolute paths and <c>..</c> are refused, as are ranges outside the file.
/// </summary>
public static class ExternalData
{
    /// <summary>What one protobuf message can hold; a model whose inlined data would exceed it cannot be served.</summary>
    public const long MaxInlineBytes = int.MaxValue - (64L << 20);

    /// <summary>Reads every external tensor of <paramref name="model"/> from <paramref name="modelDirectory"/> into the model.</summary>
    /// <exception cref="InvalidDataException">A location outside the folder, a missing file or a bad range: the message names the tensor and the fix.</exception>
    public static void Inline(ModelProto model, string modelDirectory)
    {
        string root = Path.GetFullPath(modelDirectory);
        long total = model.CalculateSize();
        foreach (var tensor in Tensors(model.Graph).Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value);
            string location = entries.GetValueOrDefault("location") ?? throw Bad(tensor, "names no location");
            if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
                throw Bad(tensor, $"keeps its data in '{location}': external data must be a file in the model's folder (no absolute path, no '..')");
            string file = Path.GetFullPath(Path.Combine(root, location));
            if (!file.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw Bad(tensor, $"keeps its data in '{location}', outside the model's folder");
            if (!File.Exists(file)) throw Bad(tensor, $"keeps its data in '{location}', which is not in the model's folder");
            long offset = long.TryParse(entries.GetValueOrDefault("offset"), out long o) ? o : 0;
            long size = new FileInfo(file).Length;
            long length = long.TryParse(entries.GetValueOrDefault("length"), out long l) ? l : size - offset;
            if (offset < 0 || length < 0 || offset + length > size)
                throw Bad(tensor, $"asks for bytes {offset}..{offset + length} of '{location}', which has {size}");
            total += length;
            if (total > MaxInlineBytes) throw Bad(tensor, "takes the model over 2 GB, which ONNX Runtime's in-memory sessions (and explanations) cannot hold");
            var data = new byte[length];
            using (var stream = File.OpenRead(file))
            {
                stream.Seek(offset, SeekOrigin.Begin);
                stream.ReadExactly(data);
            }
            tensor.RawData = ByteString.CopyFrom(data);
            tensor.ExternalData.Clear();
            tensor.ClearDataLocation();
        }
    }

    /// <summary>The initializers and constant tensors of a graph and of every subgraph in it.</summary>
    private static IEnumerable<TensorProto> Tensors(GraphProto graph)
    {
        foreach (var tensor in graph.Initializer) yield return tensor;
        foreach (var attribute in graph.Node.SelectMany(n => n.Attribute))
        {
            if (attribute.T is { } t) yield return t;
            foreach (var tensor in attribute.Tensors) yield return tensor;
            foreach (var sub in attribute.Graphs.Append(attribute.G).Where(g => g is not null))
                foreach (var tensor in Tensors(sub)) yield return tensor;
        }
    }

    private static InvalidDataException Bad(TensorProto tensor, string what) => new($"tensor '{tensor.Name}' {what}");
}
