using System.Text.Json;
using RffService.Onnx.Proto;
using RffService.Vision.Configuration;

namespace RffService.Inference.Models;

/// <summary>A config.json proposed from an ONNX file, what it could not infer (filled with placeholders), and how it decided.</summary>
/// <param name="Config">The proposal; complete when <see cref="Missing"/> is empty.</param>
/// <param name="Missing">What neither the graph nor its metadata says, each with the placeholder used.</param>
/// <param name="Notes">How the task, layout and sizes were read.</param>
public sealed record ConfigProposal(ModelConfig Config, IReadOnlyList<string> Missing, IReadOnlyList<string> Notes)
{
    public bool Complete => Missing.Count == 0;
}

/// <summary>
/// Proposes a model's config.json from its ONNX file (as Triton's auto-complete does): the input's name, layout (NCHW,
/// or CHW for one image), channels and size or dynamic axes from the graph; the task and detection layout from the
/// outputs; and what the graph cannot say (labels, normalisation, a raw detector's priors) from the exporter's
/// metadata properties: <c>labels</c>, <c>mean</c>, <c>std</c> (JSON arrays or comma-separated), <c>task</c>,
/// <c>resize</c>, <c>description</c>, <c>layout</c> (NCHW or NHWC, when the shape leaves it open), <c>width</c>/<c>height</c> (nominal size of a dynamic input) and
/// <c>detection</c> (the JSON detection section).
/// </summary>
public static class ModelConfigInference
{
    /// <param name="probe">Runs the model once on a blank input of the given shape and returns its output shapes, for
    /// outputs whose shapes the graph does not declare (exporters leave them symbolic after custom operators).</param>
    public static ConfigProposal Propose(ModelProto model, Func<long[], IReadOnlyDictionary<string, long[]>>? probe = null)
    {
        var graph = model.Graph ?? throw new InvalidDataException("the model has no graph");
        var metadata = model.MetadataProps.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.OrdinalIgnoreCase);
        var missing = new List<string>();
        var notes = new List<string>();

        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet();
        var input = graph.Input.FirstOrDefault(i => !initializers.Contains(i.Name)) ?? throw new InvalidDataException("the model has no input");
        var dims = Dims(input);
        if (dims.Length is not (3 or 4))
            throw new InvalidDataException($"input '{input.Name}' has rank {dims.Length}; an image input is NCHW (rank 4) or CHW (rank 3)");
        // Channels last (Keras- and TensorFlow-style exports): the last axis holds 1 or 3 values and the second does not.
        bool channelsLast = metadata.TryGetValue("layout", out var layout) ? string.Equals(layout, "NHWC", StringComparison.OrdinalIgnoreCase)
            : dims.Length == 4 && dims[3] is 1 or 3 && dims[1] is not (1 or 3);
        var (channels, height, width) = dims.Length == 4
            ? channelsLast ? (dims[3], dims[1], dims[2]) : (dims[1], dims[2], dims[3])
            : (dims[0], dims[1], dims[2]);
        notes.Add(dims.Length == 4 ? $"input '{input.Name}' is {(channelsLast ? "NHWC (channels last)" : "NCHW")}"
            : $"input '{input.Name}' is one image, CHW (the model runs one image at a time)");
        if (channels is not (1 or 3))
            throw new InvalidDataException($"input '{input.Name}' has {(channels is null ? "a dynamic number of" : channels.ToString())} channels; images have 1 or 3");
        bool dynamic = height is null || width is null;
        int nominalWidth = width ?? Int(metadata, "width") ?? 0, nominalHeight = height ?? Int(metadata, "height") ?? 0;
        if (dynamic)
        {
            notes.Add("the input's height and width are dynamic: dynamicSize");
            if (nominalWidth == 0 || nominalHeight == 0)
            {
                (nominalWidth, nominalHeight) = (224, 224);
                missing.Add("input.width and input.height: the nominal (training) size of the dynamic input; 224x224 used (metadata 'width' and 'height')");
            }
        }

        var outputs = graph.Output.Select(o => o.Clone()).ToList();
        if (probe is not null && outputs.Any(o => Dims(o).Skip(dims.Length == 4 ? 1 : 0).Any(d => d is null)))
        {
            long[] shape = dims.Length != 4 ? [channels.Value, nominalHeight, nominalWidth]
                : channelsLast ? [1, nominalHeight, nominalWidth, channels.Value] : [1, channels.Value, nominalHeight, nominalWidth];
            var probed = probe(shape);
            foreach (var output in outputs.Where(o => probed.ContainsKey(o.Name)))
                Declare(output, probed[output.Name], batchAxis: dims.Length == 4);
            notes.Add("output shapes read from a run on a blank input (the graph does not declare them)");
        }
        var detection = metadata.TryGetValue("detection", out var detectionJson) ? Detection(detectionJson) : null;
        string task = metadata.GetValueOrDefault("task") ?? (detection is not null || outputs.Count > 1 ? ModelTasks.Detection : ModelTasks.Classification);
        int classes;
        string? outputName = null;
        bool probabilities = false;
        if (task == ModelTasks.Classification)
        {
            var scores = outputs.FirstOrDefault(o => Dims(o) is { Length: 1 or 2 } d && d[^1] is > 0)
                ?? throw new InvalidDataException($"no output is a vector of class scores ([N, K] or [K]); outputs: {Describe(outputs)}");
            outputName = scores.Name;
            classes = Dims(scores)[^1]!.Value;
            notes.Add($"classification: output '{scores.Name}' holds {classes} class scores");
            probabilities = FinalOperator(graph, scores.Name) == "Softmax";
            if (probabilities) notes.Add($"output '{scores.Name}' comes from a Softmax: it holds probabilities (output.probabilities; no second softmax)");
        }
        else
        {
            detection ??= GuessDetection(outputs, notes, missing);
            classes = detection.Layout == DetectionConfig.RawLayout && outputs.FirstOrDefault(o => o.Name == detection.ScoresOutput) is { } raw && Dims(raw)[^1] is { } k
                ? k - 1 : 0;
        }

        var labels = List(metadata, "labels");
        if (labels is null)
        {
            int count = classes > 0 ? classes : 1;
            labels = Enumerable.Range(0, count).Select(i => $"class{i}").ToList();
            missing.Add($"labels: the class names in output order; placeholders class0..class{count - 1} used (metadata 'labels')");
        }
        var mean = Floats(metadata, "mean");
        var std = Floats(metadata, "std");
        if (input.Type?.TensorType?.ElemType == (int)TensorProto.Types.DataType.Uint8 && mean is null && std is null)
        {
            (mean, std) = ([0f], [ModelLoader.RawPixelStd]);
            notes.Add($"input '{input.Name}' is uint8: the pixels as they are (0-255), normalised inside the graph");
        }
        if ((mean is null || std is null) && detection?.Layout == DetectionConfig.DecodedLayout && mean is null && std is null)
            (mean, std) = (Enumerable.Repeat(0f, channels.Value).ToArray(), Enumerable.Repeat(1f, channels.Value).ToArray());
        if (mean is null || std is null)
        {
            (mean, std) = (Enumerable.Repeat(0f, channels.Value).ToArray(), Enumerable.Repeat(1f, channels.Value).ToArray());
            missing.Add("input.mean and input.std: the normalisation of pixels scaled to [0, 1]; 0 and 1 used (metadata 'mean' and 'std')");
        }

        var config = new ModelConfig
        {
            Task = task,
            Description = metadata.GetValueOrDefault("description") ?? $"inferred from the ONNX file ({graph.Name})",
            Labels = labels,
            Input = new InputConfig
            {
                Name = input.Name,
                Width = nominalWidth,
                Height = nominalHeight,
                Channels = channels.Value,
                Layout = channelsLast ? "NHWC" : "NCHW",
                Mean = mean,
                Std = std,
                Resize = metadata.GetValueOrDefault("resize") ?? "stretch",
                DynamicSize = dynamic,
            },
            Output = new OutputConfig { Name = outputName, Probabilities = probabilities },
            Detection = task == ModelTasks.Detection ? detection : null,
        };
        foreach (var error in ModelConfigValidator.Validate(config)) missing.Add(error);
        return new ConfigProposal(config, missing, notes);
    }

    /// <summary>
    /// The operator that computes an output, looking through the shape-only nodes exporters add after it (Identity,
    /// Reshape, Flatten, Squeeze); null for a graph input or initializer. A LogSoftmax output needs nothing: softmax of
    /// log-probabilities is the probabilities.
    /// </summary>
    private static string? FinalOperator(GraphProto graph, string output)
    {
        var producers = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).GroupBy(p => p.o).ToDictionary(g => g.Key, g => g.First().n);
        for (int step = 0; step < 16 && producers.TryGetValue(output, out var node); step++)
        {
            if (node.OpType is not ("Identity" or "Reshape" or "Flatten" or "Squeeze") || node.Input.Count == 0) return node.OpType;
            output = node.Input[0];
        }
        return null;
    }

    /// <summary>The decoded layout (boxes, scores and labels outputs, as torchvision's exports) or the raw SSD layout (scores [N, A, K+1] and offsets [N, A, 4]).</summary>
    private static DetectionConfig GuessDetection(List<ValueInfoProto> outputs, List<string> notes, List<string> missing)
    {
        var boxes = outputs.FirstOrDefault(o => Dims(o) is { Length: 2 or 3 } d && d[^1] == 4 && (d.Length == 2 || d[^2] is null));
        var labelsOutput = outputs.FirstOrDefault(o => o != boxes && IsInteger(o) && Dims(o).Length is 1 or 2);
        var scores = outputs.FirstOrDefault(o => o != boxes && o != labelsOutput && !IsInteger(o) && Dims(o).Length is 1 or 2);
        if (boxes is not null && labelsOutput is not null && scores is not null)
        {
            notes.Add($"detection, decoded in the graph: boxes '{boxes.Name}', scores '{scores.Name}', labels '{labelsOutput.Name}'");
            notes.Add("torchvision's conventions assumed: labels count background as 0 (labelOffset 1), boxes xyxy in input pixels, " +
                      "pixels normalised inside the graph (mean 0, std 1); the metadata 'detection', 'mean' and 'std' override them");
            return new DetectionConfig
            {
                Layout = DetectionConfig.DecodedLayout,
                BoxesOutput = boxes.Name,
                ScoresOutput = scores.Name,
                LabelsOutput = labelsOutput.Name,
                BoxFormat = "xyxy",
                Normalized = false,
                LabelOffset = 1,
            };
        }
        var offsets = outputs.FirstOrDefault(o => Dims(o) is { Length: 3 } d && d[2] == 4);
        var raw = outputs.FirstOrDefault(o => o != offsets && Dims(o) is { Length: 3 } d && d[2] is > 1);
        if (offsets is null || raw is null)
            throw new InvalidDataException($"the outputs match neither a classifier nor a known detector layout; outputs: {Describe(outputs)}");
        notes.Add($"detection, raw SSD outputs: scores '{raw.Name}', box offsets '{offsets.Name}'");
        missing.Add("detection.priors: the default boxes cannot be read from the graph (metadata 'detection')");
        return new DetectionConfig { Layout = DetectionConfig.RawLayout, ScoresOutput = raw.Name, BoxesOutput = offsets.Name };
    }

    private static DetectionConfig Detection(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<DetectionConfig>(json, ModelConfig.JsonOptions) ?? throw new InvalidDataException("metadata 'detection' is empty");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"metadata 'detection' is not a valid detection section: {ex.Message}", ex);
        }
    }

    /// <summary>Sets an output's declared shape to the probed one (the batch axis left symbolic).</summary>
    private static void Declare(ValueInfoProto output, long[] shape, bool batchAxis)
    {
        var tensor = output.Type?.TensorType ?? throw new InvalidDataException($"output '{output.Name}' is not a tensor");
        tensor.Shape = new TensorShapeProto();
        for (int i = 0; i < shape.Length; i++)
            tensor.Shape.Dim.Add(batchAxis && i == 0 ? new TensorShapeProto.Types.Dimension { DimParam = "batch" } : new TensorShapeProto.Types.Dimension { DimValue = shape[i] });
    }

    /// <summary>Dimensions; null where symbolic or unknown.</summary>
    private static int?[] Dims(ValueInfoProto value) =>
        value.Type?.TensorType?.Shape?.Dim.Select(d => d.HasDimValue && d.DimValue > 0 ? (int?)d.DimValue : null).ToArray() ?? [];

    private static bool IsInteger(ValueInfoProto value) =>
        value.Type?.TensorType?.ElemType is (int)TensorProto.Types.DataType.Int64 or (int)TensorProto.Types.DataType.Int32;

    private static string Describe(IEnumerable<ValueInfoProto> values) =>
        string.Join(", ", values.Select(v => $"{v.Name} [{string.Join(", ", Dims(v).Select(d => d?.ToString() ?? "?"))}]"));

    private static int? Int(Dictionary<string, string> metadata, string key) =>
        metadata.TryGetValue(key, out var text) && int.TryParse(text, out int value) && value > 0 ? value : null;

    private static List<string>? List(Dictionary<string, string> metadata, string key)
    {
        if (!metadata.TryGetValue(key, out var text)) return null;
        text = text.Trim();
        if (text.StartsWith('['))
        {
            try
            {
                using var json = JsonDocument.Parse(text);
                return json.RootElement.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()).ToList();
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                throw new InvalidDataException($"metadata '{key}' is not a JSON list: {ex.Message}", ex);
            }
        }
        return text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
    }

    private static float[]? Floats(Dictionary<string, string> metadata, string key)
    {
        var items = List(metadata, key);
        try
        {
            return items?.Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"metadata '{key}' must be numbers, got '{metadata[key]}'");
        }
    }
}
