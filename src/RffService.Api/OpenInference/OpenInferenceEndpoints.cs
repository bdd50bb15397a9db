using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;
using RffService.Api.Errors;
using RffService.Inference.Classification;
using RffService.Inference.Detection;
using RffService.Inference.Models;
using RffService.Inference.Tensors;
using RffService.Vision;

namespace RffService.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol (KServe v2) over REST, so Triton and KServe clients work. Errors use the protocol's
/// <c>{"error": "..."}</c> body instead of problem details.
/// </summary>
public static class OpenInferenceEndpoints
{
    public static IEndpointRouteBuilder MapOpenInferenceEndpoints(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2").WithTags("Open Inference Protocol (v2)").AddEndpointFilter(ProtocolErrors);
        // Server health and metadata are open like /health (probes carry no API key).
        v2.MapGet("/", ServerMetadata).WithSummary("Server metadata").AllowAnonymous().DisableRateLimiting();
        v2.MapGet("/health/live", () => TypedResults.Ok(new { live = true })).WithSummary("Server live").AllowAnonymous().DisableRateLimiting();
        v2.MapGet("/health/ready", ServerReady).WithSummary("Server ready (every model loaded, at least one ready)").AllowAnonymous().DisableRateLimiting();
        foreach (var prefix in new[] { "/models/{name}", "/models/{name}/versions/{version}" })
        {
            v2.MapGet(prefix, ModelMetadata).WithSummary("Model metadata: inputs and outputs with data types and shapes");
            v2.MapGet(prefix + "/ready", ModelReady).WithSummary("Model ready (200) or not (400)");
            // No Accepts metadata: it would make routing answer other content types with a problem+json 415.
            v2.MapPost(prefix + "/infer", InferAsync).WithSummary("Inference (application/json): FP32 tensors, or BYTES base64-encoded images");
        }
        return app;
    }

    /// <summary>Maps the service's errors to the protocol's error body (status codes as elsewhere).</summary>
    private static async ValueTask<object?> ProtocolErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (InferenceException ex)
        {
            return Error(ProblemExceptionHandler.StatusFor(ex.Kind), ex.Message, ex.Kind == ErrorKind.Unavailable);
        }
        catch (BadHttpRequestException ex)
        {
            return Error(ex.StatusCode, ex.Message);
        }
        catch (JsonException ex)
        {
            return Error(StatusCodes.Status400BadRequest, $"The body is not valid JSON: {ex.Message}");
        }
    }

    private static IResult Error(int status, string message, bool retry = false) =>
        new ErrorResult(status, new ErrorResponse(message), retry);

    private static ServerMetadataResponse ServerMetadata() =>
        new("rffservice", typeof(OpenInferenceEndpoints).Assembly.GetName().Version?.ToString(3) ?? "1.0.0", []);

    private static IResult ServerReady(ModelRepository repository)
    {
        bool ready = repository.IsLoaded && repository.Models.Any(m => m.State == ModelState.Ready);
        return ready ? TypedResults.Ok(new { ready }) : Error(StatusCodes.Status503ServiceUnavailable, "The models are loading or none is ready.", retry: true);
    }

    private static ModelMetadataResponse ModelMetadata(string name, string? version, ModelResolver models)
    {
        var model = models.Resolve(name, version: version);
        var session = model.Runtime!.Session;
        var inputShape = session.InputShape.Select(d => (long)d).ToArray();
        inputShape[0] = -1;
        var outputs = TensorInferenceService.DeclaredOutputs(model.Runtime).Select(o =>
        {
            var (shape, type) = session.OutputInfo(o);
            return new TensorMetadata(o, DataType(type), shape.Select(d => (long)d).ToArray());
        }).ToList();
        var inputs = new List<TensorMetadata> { new(session.InputName, "FP32", inputShape) };
        return new ModelMetadataResponse(model.Name, [Version(model)], "onnxruntime_onnx", inputs, outputs);
    }

    private static IResult ModelReady(string name, string? version, ModelResolver models)
    {
        try
        {
            var model = models.Resolve(name, version: version);
            return TypedResults.Ok(new ModelReadyResponse(model.Name, true));
        }
        catch (InferenceException ex) when (ex.Kind == ErrorKind.Unavailable)
        {
            return Error(StatusCodes.Status400BadRequest, ex.Message); // the protocol: 200 means ready, a 4xx not ready
        }
    }

    /// <summary>
    /// FP32 input: the tensor as the model takes it (NCHW, normalised), answered with the model's raw outputs.
    /// BYTES input: base64-encoded image files (shape [N]), run through the service's own pipeline and answered with
    /// "probabilities" [N, K], "class_index" [N], "label" [N] (classifiers) or "detection_boxes" [N, D, 4] (x_min, y_min,
    /// x_max, y_max in original pixels), "detection_scores" [N, D], "detection_classes" [N, D], "num_detections" [N]
    /// (detectors; parameters score_threshold, iou_threshold, max_detections).
    /// </summary>
    private static async Task<IResult> InferAsync(HttpContext context, string name, string? version, ModelResolver models, TensorInferenceService tensors,
        ClassificationService classifier, DetectionService detector, CancellationToken cancellationToken)
    {
        var model = models.Resolve(name, version: version);
        if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return Error(StatusCodes.Status415UnsupportedMediaType, "Send the inference request as application/json.");
        using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: cancellationToken);
        var request = InferRequest.Parse(document.RootElement);
        if (request.Inputs.Count != 1)
            throw new InferenceException(ErrorKind.BadInput, "Invalid inference request", $"The model takes one input; the request has {request.Inputs.Count}.");
        var input = request.Inputs[0];

        bool tensor = input.Datatype == "FP32";
        var available = tensor ? TensorInferenceService.DeclaredOutputs(model.Runtime!)
            : model.Config!.Task == ClassificationService.Task ? ClassificationOutputs : DetectionOutputs;
        if (request.Outputs?.Where(w => !available.Contains(w)).ToList() is { Count: > 0 } unknown)
            throw new InferenceException(ErrorKind.BadInput, "Unknown output", $"No output named {string.Join(", ", unknown.Select(u => $"'{Text.Shorten(u)}'"))}; " +
                                                                                $"this request can return {string.Join(", ", available)}.");
        IReadOnlyList<ResponseTensor> outputs = tensor
            ? await RunTensorAsync(model, input, request.Outputs, tensors, cancellationToken)
            : await RunImagesAsync(model, input, request, classifier, detector, cancellationToken);
        if (request.Outputs is { } wanted) outputs = outputs.Where(o => wanted.Contains(o.Name)).ToList();
        return TypedResults.Ok(new InferResponse(model.Name, Version(model), request.Id, outputs));
    }

    private static readonly string[] ClassificationOutputs = ["probabilities", "class_index", "label"];
    private static readonly string[] DetectionOutputs = ["detection_boxes", "detection_scores", "detection_classes", "num_detections"];

    private static async Task<List<ResponseTensor>> RunTensorAsync(ModelEntry model, RequestTensor input, IReadOnlyList<string>? wanted, TensorInferenceService tensors,
        CancellationToken cancellationToken)
    {
        var session = model.Runtime!.Session;
        if (input.Name != session.InputName)
            throw new InferenceException(ErrorKind.BadInput, "Unknown input", $"The model's input is '{session.InputName}'.");
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

    private static async Task<List<ResponseTensor>> RunImagesAsync(ModelEntry model, RequestTensor input, InferRequest request, ClassificationService classifier,
        DetectionService detector, CancellationToken cancellationToken)
    {
        if (input.Shape.Length is not (1 or 2) || (input.Shape.Length == 2 && input.Shape[1] != 1))
            throw new InferenceException(ErrorKind.BadInput, "Invalid input tensor", "BYTES input holds encoded images with shape [N] (or [N, 1]).");
        var images = input.Strings!.Select((s, i) => (ReadOnlyMemory<byte>)Base64(s, i)).ToList();
        long n = images.Count;
        if (model.Config!.Task == ClassificationService.Task)
        {
            int classes = model.Config.Labels.Count;
            var results = await classifier.ClassifyAsync(images, model.Name, classes, cancellationToken);
            var probabilities = new float[n * classes];
            for (int i = 0; i < n; i++)
                foreach (var p in results[i].Predictions) probabilities[i * classes + p.Index] = p.Probability;
            return
            [
                new ResponseTensor("probabilities", "FP32", [n, classes], probabilities),
                new ResponseTensor("class_index", "INT64", [n], results.Select(r => (long)r.Predictions[0].Index).ToArray()),
                new ResponseTensor("label", "BYTES", [n], results.Select(r => r.Predictions[0].Label).ToArray()),
            ];
        }

        var detections = await detector.DetectAsync(images, model.Name, new DetectionRequest(
            Parameter(request, "score_threshold", DetectionRequest.DefaultScoreThreshold), Parameter(request, "iou_threshold", DetectionRequest.DefaultIouThreshold),
            (int)Parameter(request, "max_detections", DetectionRequest.DefaultMaxDetections)), cancellationToken);
        int most = detections.Max(d => d.Detections.Count);
        var boxes = new float[n * most * 4];
        var scores = new float[n * most];
        var labels = new long[n * most];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < detections[i].Detections.Count; j++)
            {
                var d = detections[i].Detections[j];
                int at = i * most + j;
                (boxes[at * 4], boxes[at * 4 + 1], boxes[at * 4 + 2], boxes[at * 4 + 3]) = (d.Box.X, d.Box.Y, d.Box.X + d.Box.Width, d.Box.Y + d.Box.Height);
                scores[at] = d.Score;
                labels[at] = d.ClassIndex;
            }
        return
        [
            new ResponseTensor("detection_boxes", "FP32", [n, most, 4], boxes),
            new ResponseTensor("detection_scores", "FP32", [n, most], scores),
            new ResponseTensor("detection_classes", "INT64", [n, most], labels),
            new ResponseTensor("num_detections", "INT64", [n], detections.Select(d => (long)d.Detections.Count).ToArray()),
        ];
    }

    private static float Parameter(InferRequest request, string name, float fallback)
    {
        if (request.Parameters is not { } parameters || !parameters.TryGetProperty(name, out var value)) return fallback;
        return value.ValueKind == JsonValueKind.Number ? (float)value.GetDouble()
            : throw new InferenceException(ErrorKind.BadInput, "Invalid parameter", $"Parameter '{name}' must be a number.");
    }

    private static byte[] Base64(string text, int index)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new InferenceException(ErrorKind.BadInput, "Invalid base64", $"BYTES element {index} is not base64 (send image files base64-encoded).");
        }
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

    /// <summary>A JSON error body with a status (and Retry-After when the condition is passing).</summary>
    private sealed class ErrorResult(int status, ErrorResponse body, bool retry) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = status;
            if (retry) context.Response.Headers.RetryAfter = "1";
            return context.Response.WriteAsJsonAsync(body);
        }
    }
}
