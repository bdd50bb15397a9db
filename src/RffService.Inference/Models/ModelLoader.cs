using RffService.Inference.Runtime;
using RffService.Onnx;

namespace RffService.Inference.Models;

/// <summary>
/// Loads one model version: parses the ONNX file, finds its RFF layers, creates the session, checks that the
/// model agrees with its config and warms it up with one dummy inference.
/// </summary>
public sealed class ModelLoader(ExecutionProviderSelector providers, Microsoft.Extensions.Options.IOptions<InferenceOptions>? options = null,
    IInferenceMetrics? metrics = null)
{
    public const string ModelFileName = "model.onnx";

    /// <summary>Loads the model into <paramref name="model"/>; on failure the model is marked failed with the reason.</summary>
    public void Load(LoadedModel model)
    {
        try
        {
            var config = model.Config ?? throw new InvalidDataException("the model has no valid config.json");
            if (model.Version is not { } version)
                throw new InvalidDataException("no version folder (models/<name>/<number>/model.onnx) was found");
            string path = Path.Combine(model.Directory, version.ToString(), ModelFileName);
            if (!File.Exists(path))
                throw new FileNotFoundException($"version {version} has no {ModelFileName} ({path})");

            byte[] bytes = File.ReadAllBytes(path);
            var proto = ParseOnnx(bytes);
            var layers = new ModelInspector(proto).FindRffLayers();

            // The session also returns every RFF layer's activations on request (for explanations).
            var served = proto.Clone();
            ModelEditor.ExposeOutputs(served, layers.Select(l => l.Output));
            var (options, provider) = providers.Create();
            ModelSession session;
            using (options)
                session = new ModelSession(OnnxModelFile.ToBytes(served), options, provider, config.Input.Name,
                    config.Output.Name ?? config.Detection?.ScoresOutput);
            try
            {
                CheckAgainstConfig(session, config);
                if (config.Detection is { } detection)
                {
                    var decoder = Detection.IDetectionDecoder.Create(detection, config.Labels.Count, config.Input.Width, config.Input.Height);
                    model.DetectorBatches = CheckDetector(session, config, decoder);
                    model.Detector = decoder;
                }
            }
            catch
            {
                session.Dispose();
                throw;
            }
            model.RffLayers = layers;
            model.Session = session;
            (model.Explainer, model.ExplanationError) = Explanations.ExplainableModel.TryCreate(proto, layers, session, providers);
            model.Batcher = CreateBatcher(model, config, session);
            model.State = ModelState.Ready;
        }
        catch (Exception ex)
        {
            model.Error = ex.Message;
            model.State = ModelState.Failed;
        }
    }

    private static Onnx.Proto.ModelProto ParseOnnx(byte[] bytes)
    {
        try
        {
            var proto = OnnxModelFile.Parse(bytes);
            if (proto.Graph is null) throw new InvalidDataException("it has no graph");
            return proto;
        }
        catch (Exception ex) when (ex is Google.Protobuf.InvalidProtocolBufferException or InvalidDataException)
        {
            throw new InvalidDataException($"{ModelFileName} is not a valid ONNX model: {ex.Message}", ex);
        }
    }

    /// <summary>A dynamic batcher over the model's outputs, unless batching is off or the outputs have no batch axis.</summary>
    private Batching.DynamicBatcher? CreateBatcher(LoadedModel model, ModelConfig config, ModelSession session)
    {
        var settings = (options?.Value.Batching ?? new Batching.BatchingOptions()).With(config.Batching);
        if (!settings.Enabled || !model.DetectorBatches) return null;
        IReadOnlyList<string> outputs = model.Detector?.OutputNames ?? [session.OutputName];
        string task = config.Task;
        var report = metrics ?? IInferenceMetrics.None;
        return new Batching.DynamicBatcher(model.Name, (input, shape) =>
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            var result = session.Run(input, shape, outputs);
            report.InferenceRun(model.Name, task, (int)shape[0], System.Diagnostics.Stopwatch.GetElapsedTime(started));
            return result;
        }, settings);
    }

    private static bool CheckDetector(ModelSession session, ModelConfig config, Detection.IDetectionDecoder decoder)
    {
        var input = config.Input;
        foreach (var name in decoder.OutputNames)
            if (!session.OutputNames.Contains(name))
                throw new InvalidDataException($"config.json names output '{name}' but the model's outputs are {string.Join(", ", session.OutputNames)}");
        var outputs = session.Run(new float[input.Channels * input.Height * input.Width], [1, input.Channels, input.Height, input.Width], decoder.OutputNames);
        return decoder.CheckOutputs(outputs);
    }

    /// <summary>Checks the declared input shape; for a classifier, runs one dummy batch and checks the output shape.</summary>
    private static void CheckAgainstConfig(ModelSession session, ModelConfig config)
    {
        var input = config.Input;
        int[] shape = session.InputShape;
        if (shape.Length != 4)
            throw new InvalidDataException($"input '{session.InputName}' has rank {shape.Length}; an NCHW image input has rank 4");
        Check(shape[1], input.Channels, "channels");
        if (input.DynamicSize && (shape[2] > 0 || shape[3] > 0))
            throw new InvalidDataException($"config.json says input.dynamicSize but the model's input '{session.InputName}' has a fixed size {shape[2]}x{shape[3]}");
        Check(shape[2], input.Height, "height");
        Check(shape[3], input.Width, "width");

        if (config.Task != "classification") return; // a detector's dummy run checks its outputs in CheckDetector
        var (_, outputShape) = session.Run(new float[input.Channels * input.Height * input.Width], [1, input.Channels, input.Height, input.Width]);
        if (outputShape.Length != 2 || outputShape[1] != config.Labels.Count)
            throw new InvalidDataException(
                $"output '{session.OutputName}' has shape [{string.Join(", ", outputShape)}] but config.json lists {config.Labels.Count} labels (expected [1, {config.Labels.Count}])");

        void Check(int actual, int declared, string what)
        {
            if (actual > 0 && actual != declared)
                throw new InvalidDataException($"config.json says input {what} is {declared} but the model's input '{session.InputName}' has {actual}");
        }
    }
}
