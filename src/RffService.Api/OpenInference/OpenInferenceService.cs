using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime.Tensors;
using RffService.Api.Health;
using RffService.Inference;
using RffService.Inference.Classification;
using RffService.Inference.Common;
using RffService.Inference.Detection;
using RffService.Inference.Explanations;
using RffService.Inference.Models;
using RffService.Inference.Tensors;
using RffService.Vision;
using RffService.Vision.Configuration;

namespace RffService.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol (KServe v2) whatever the transport: REST (<see cref="OpenInferenceEndpoints"/>) and gRPC
/// (<see cref="OpenInferenceGrpcService"/>) translate their messages to and from these calls, so both answer alike.
/// Every model takes two kinds of input: an FP32 tensor as the model takes it (NCHW, normalised), answered with the
/// model's raw outputs; or BYTES elements holding encoded images (shape [N]), run through the service's own pipeline.
/// </summary>
public sealed class OpenInferenceService(ModelRepository repository, ModelResolver models, TensorInferenceService tensors,
    ClassificationService classifier, DetectionService detector, InterventionService interventions, IOptions<InferenceOptions> options)
{
    public const string Platform = "onnxruntime_onnx";
    /// <summary>The name advertised for the BYTES (encoded images) input; any name is accepted.</summary>
    public const string ImageInput = "image";
    /// <summary>Request parameters (score_threshold, iou_threshold, max_detections, ablate) are the protocol's parameters extension.</summary>
    public static readonly IReadOnlyList<string> Extensions = ["parameters"];

    public static readonly IReadOnlyList<string> ClassificationOutputs = ["probabilities", "class_index", "label"];
    public static readonly IReadOnlyList<string> DetectionOutputs = ["detection_boxes", "detection_scores", "detection_classes", "num_detections"];

    public ServerMetadataResponse ServerMetadata() =>
        new("rffservice", typeof(OpenInferenceService).Assembly.GetName().Version?.ToString(3) ?? "1.0.0", Extensions);

    /// <summary>The same readiness as /health/ready (Inference:ReadyPolicy).</summary>
    public (bool Ready, string Message) ServerReady() => ModelsReadyHealthCheck.Evaluate(repository, options.Value.ReadyPolicy);

    /// <summary>The model, if it serves; throws otherwise (404 unknown, 503 loading or failed).</summary>
    public ModelEntry ReadyModel(string name, string? version) => models.Resolve(Named(name), version: version);

    /// <summary>The protocol names the model in every model request: an empty name is the client's mistake, not the default model.</summary>
    private static string Named(string name) => string.IsNullOrWhiteSpace(name)
        ? throw new InferenceException(ErrorKind.BadInput, "No model name", "The request names no model; name one of the service's models.")
        : name;

    public ModelMetadataResponse ModelMetadata(string name, string? version)
    {
        var model = models.Resolve(Named(name), version: version);
        var runtime = model.Runtime!;
        var session = runtime.Session;
        var inputShape = session.InputShape.Select(d => (long)d).ToArray();
        if (session.InputHasBatchAxis) inputShape[0] = -1;
        var inputs = new List<TensorMetadata>
        {
            new(session.InputName, "FP32", inputShape),
            new(ImageInput, "BYTES", [-1]),
        };
        var outputs = TensorInferenceService.DeclaredOutputs(runtime).Select(o =>
        {
            var (shape, type) = session.OutputInfo(o);
            return new TensorMetadata(o, DataType(type), shape.Select(d => (long)d).ToArray());
        }).ToList();
        int labels = model.Config!.Labels.Count;
        outputs.AddRange(model.Config.Task == ModelTasks.Classification
            ? [new("probabilities", "FP32", [-1, labels]), new("class_index", "INT64", [-1]), new("label", "BYTES", [-1])]
            : [new("detection_boxes", "FP32", [-1, -1, 4]), new("detection_scores", "FP32", [-1, -1]), new("detection_classes", "INT64", [-1, -1]),
               new("num_detections", "INT64", [-1])]);
        return new ModelMetadataResponse(model.Name, [Version(model)], Platform, inputs, outputs);
    }

    public async Task<InferResponse> InferAsync(string name, string? version, InferRequest request, CancellationToken cancellationToken)
    {
        var model = models.Resolve(Named(name), version: version);
        if (request.Inputs.Count != 1)
            throw new InferenceException(ErrorKind.BadInput, "Invalid inference request", $"The model takes one input; the request has {request.Inputs.Count}.");
        var input = request.Inputs[0];
        bool tensor = input.Datatype == "FP32";
        var ablations = Ablation.ParseList(request.Parameters?.GetValueOrDefault(AblateParameter));
        if (tensor && ablations.Count > 0)
            throw new InferenceException(ErrorKind.BadInput, "ablate needs images", "The ablate parameter applies to BYTES inputs (encoded images), not to FP32 tensors.");
        var imageOutputs = model.Config!.Task == ModelTasks.Classification ? ClassificationOutputs : DetectionOutputs;
        var available = tensor ? TensorInferenceService.DeclaredOutputs(model.Runtime!)
            : ablations.Count > 0 ? [.. imageOutputs, .. imageOutputs.Where(o => o != "class_index" && o != "label").Select(o => OriginalPrefix + o)] : imageOutputs;
        if (request.Outputs?.Where(w => !available.Contains(w)).ToList() is { Count: > 0 } unknown)
            throw new InferenceException(ErrorKind.BadInput, "Unknown output", $"No output named {string.Join(", ", unknown.Select(u => $"'{Text.Shorten(u)}'"))}; " +
                                                                                $"this request can return {string.Join(", ", available)}.");
        var (outputs, parameters) = tensor
            ? (await RunTensorAsync(model, input, request.Outputs, cancellationToken), null)
            : await RunImagesAsync(model, input, request, ablations, cancellationToken);
        if (request.Outputs is { } wanted) outputs = outputs.Where(o => wanted.Contains(o.Name)).ToList();
        return new InferResponse(model.Name, Version(model), request.Id, outputs, parameters);
    }

    private async Task<List<ResponseTensor>> RunTensorAsync(ModelEntry model, RequestTensor input, IReadOnlyList<string>? wanted, CancellationToken cancellationToken)
    {
        var session = model.Runtime!.Session;
        if (input.Name != session.InputName)
            throw new InferenceException(ErrorKind.BadInput, "Unknown input", $"The model's FP32 input is '{session.InputName}' (or send BYTES images).");
        var declared = TensorInferenceService.DeclaredOutputs(model.Runtime);
        var names = wanted?.Where(declared.Contains).ToList() is { Count: > 0 } chosen ? chosen : (IReadOnlyList<string>)declared;
        var results = await tensors.RunAsync(model, input.Numbers!, input.Shape, names, cancellationToken);
        return names.Select(n =>
        {
            var (values, shape) = results[n];
            var (_, type) = session.OutputInfo(n);
            return type == TensorElementType.Int64
                ? new ResponseTensor(n, "INT64", shape, values.Select(v => (long)v).ToArray())
                : new ResponseTensor(n, "FP32", shape, values);
        }).ToList();
    }

    /// <summary>
    /// Images in, the service's own outputs back. With ablate, the outputs are the intervened network's, the same
    /// outputs without it come prefixed <see cref="OriginalPrefix"/>, and the response parameter "intervention" holds
    /// what was applied (JSON, as /classify's intervention field).
    /// </summary>
    private async Task<(List<ResponseTensor>, IReadOnlyDictionary<string, string>?)> RunImagesAsync(ModelEntry model, RequestTensor input, InferRequest request,
        IReadOnlyList<Ablation> ablations, CancellationToken cancellationToken)
    {
        if (input.Datatype != "BYTES")
            throw new InferenceException(ErrorKind.BadInput, "Invalid inference request", $"Input '{Text.Shorten(input.Name)}': send FP32 tensors or BYTES (encoded images), not {Text.Shorten(input.Datatype)}.");
        if (input.Shape.Length is not (1 or 2) || (input.Shape.Length == 2 && input.Shape[1] != 1))
            throw new InferenceException(ErrorKind.BadInput, "Invalid input tensor", "BYTES input holds encoded images with shape [N] (or [N, 1]).");
        var images = input.Bytes!.Select(b => (ReadOnlyMemory<byte>)b).ToList();
        long n = images.Count;
        bool intervene = ablations.Count > 0;
        if (model.Config!.Task == ModelTasks.Classification)
        {
            int classes = model.Config.Labels.Count;
            var results = intervene
                ? await interventions.ClassifyAsync(images, model.Name, classes, ablations, cancellationToken)
                : await classifier.ClassifyAsync(images, model.Name, classes, cancellationToken);
            var outputs = new List<ResponseTensor>
            {
                Probabilities("probabilities", results.Select(r => r.Predictions).ToList(), classes),
                new ResponseTensor("class_index", "INT64", [n], results.Select(r => (long)r.Predictions[0].Index).ToArray()),
                new ResponseTensor("label", "BYTES", [n], results.Select(r => r.Predictions[0].Label).ToArray()),
            };
            if (intervene) outputs.Add(Probabilities(OriginalPrefix + "probabilities", results.Select(r => r.Original!).ToList(), classes));
            return (outputs, intervene ? Applied(results.Select(r => r.Intervention!)) : null);
        }

        var query = new DetectionRequest(
            Parameter(request, "score_threshold", DetectionRequest.DefaultScoreThreshold), Parameter(request, "iou_threshold", DetectionRequest.DefaultIouThreshold),
            (int)Parameter(request, "max_detections", DetectionRequest.DefaultMaxDetections));
        var detections = intervene
            ? await interventions.DetectAsync(images, model.Name, query, ablations, cancellationToken)
            : await detector.DetectAsync(images, model.Name, query, cancellationToken);
        var found = Detections("", detections.Select(d => d.Detections).ToList());
        if (intervene) found.AddRange(Detections(OriginalPrefix, detections.Select(d => d.Original!).ToList()));
        return (found, intervene ? Applied(detections.Select(d => d.Intervention!)) : null);
    }

    /// <summary>The request parameter that switches activations off (the same form as ablate= on /classify).</summary>
    public const string AblateParameter = "ablate";
    /// <summary>With ablate, the outputs without the intervention carry this prefix.</summary>
    public const string OriginalPrefix = "original_";

    private static ResponseTensor Probabilities(string name, IReadOnlyList<IReadOnlyList<Prediction>> predictions, int classes)
    {
        var probabilities = new float[predictions.Count * classes];
        for (int i = 0; i < predictions.Count; i++)
            foreach (var p in predictions[i]) probabilities[i * classes + p.Index] = p.Probability;
        return new ResponseTensor(name, "FP32", [predictions.Count, classes], probabilities);
    }

    private static List<ResponseTensor> Detections(string prefix, IReadOnlyList<IReadOnlyList<Detection>> detections)
    {
        long n = detections.Count;
        int most = detections.Max(d => d.Count);
        var boxes = new float[n * most * 4];
        var scores = new float[n * most];
        var labels = new long[n * most];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < detections[i].Count; j++)
            {
                var d = detections[i][j];
                int at = i * most + j;
                (boxes[at * 4], boxes[at * 4 + 1], boxes[at * 4 + 2], boxes[at * 4 + 3]) = (d.Box.X, d.Box.Y, d.Box.X + d.Box.Width, d.Box.Y + d.Box.Height);
                scores[at] = d.Score;
                labels[at] = d.ClassIndex;
            }
        return
        [
            new ResponseTensor(prefix + "detection_boxes", "FP32", [n, most, 4], boxes),
            new ResponseTensor(prefix + "detection_scores", "FP32", [n, most], scores),
            new ResponseTensor(prefix + "detection_classes", "INT64", [n, most], labels),
            new ResponseTensor(prefix + "num_detections", "INT64", [n], detections.Select(d => (long)d.Count).ToArray()),
        ];
    }

    /// <summary>The response parameter "intervention": per image, what was applied (JSON).</summary>
    private static Dictionary<string, string> Applied(IEnumerable<InterventionReport> reports) =>
        new() { ["intervention"] = JsonSerializer.Serialize(reports.Select(r => r.Applied).ToList(), JsonSerializerOptions.Web) };

    private static float Parameter(InferRequest request, string name, float fallback)
    {
        if (request.Parameters is not { } parameters || !parameters.TryGetValue(name, out var text)) return fallback;
        return float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) ? value
            : throw new InferenceException(ErrorKind.BadInput, "Invalid parameter", $"Parameter '{name}' must be a number, got '{Text.Shorten(text)}'.");
    }

    private static string Version(ModelEntry model) => model.Version?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string DataType(TensorElementType type) => type switch
    {
        TensorElementType.Float => "FP32",
        TensorElementType.Int64 => "INT64",
        TensorElementType.Int32 => "INT32",
        TensorElementType.Double => "FP64",
        _ => type.ToString().ToUpperInvariant(),
    };
}
