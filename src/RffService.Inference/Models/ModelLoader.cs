using RffService.Inference.Monitoring;
using Microsoft.Extensions.Options;
using RffService.Inference.Batching;
using RffService.Inference.Runtime;
using RffService.Onnx.Explanations;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;
using RffService.Onnx;
using RffService.Vision.Detection;

namespace RffService.Inference.Models;

/// <summary>
/// Loads one model version into a ready <see cref="ModelEntry"/>: reads and inspects the ONNX file, creates the
/// session (the RFF layers' activations exposed for explanations), checks it against config.json with a warm-up run,
/// and builds the detector's decoder, the queue and the explanation engine. A failure gives a failed entry with the reason.
/// </summary>
public sealed class ModelLoader(SessionFactory sessions, IOptions<InferenceOptions> options, IInferenceMetrics? metrics = null)
{
    public ModelEntry Load(ModelEntry entry)
    {
        if (entry.State == ModelState.Failed) return entry;
        ModelSession? session = null;
        try
        {
            var config = entry.Config ?? throw new InvalidDataException($"{ModelFolder.ConfigFileName} is missing");
            if (entry.Version is not { } version)
                throw new InvalidDataException("no version folder (models/<name>/<number>/model.onnx) was found");
            string path = ModelFolder.ModelPath(entry, version);
            if (!File.Exists(path))
                throw new FileNotFoundException($"version {version} has no {ModelFolder.ModelFileName} ({path})");
            var proto = Parse(File.ReadAllBytes(path));
            var layers = new ModelInspector(proto).FindRffLayers();

            // The session also returns every RFF layer's activations on request (for explanations).
            var served = proto.Clone();
            ModelEditor.ExposeOutputs(served, layers.Select(l => l.Output));
            session = new ModelSession(sessions.Create(served), entry.Name, config.Task, config.Input.Name,
                config.Output.Name ?? config.Detection?.ScoresOutput, metrics);
            var decoder = config.Detection is { } detection
                ? IDetectionDecoder.Create(detection, config.Labels.Count, config.Input.Width, config.Input.Height)
                : null;
            bool batchAxis = ModelConformance.Check(session, config, decoder);
            var batcher = CreateBatcher(entry.Name, config, session, batchAxis);
            var (explainer, explanationError) = CreateExplainer(proto, config, session, layers);
            var runtime = new ModelRuntime(config, session, layers, decoder, batchAxis, batcher, explainer, explanationError);
            return entry with { State = ModelState.Ready, Error = null, Runtime = runtime };
        }
        catch (Exception ex)
        {
            session?.Dispose();
            return entry.Failed(ex.Message);
        }
    }

    /// <summary>The explanation engine, or why the model cannot be explained (the rest of the model serves either way).</summary>
    private (Explainer?, string?) CreateExplainer(ModelProto proto, Vision.Configuration.ModelConfig config, ModelSession session, IReadOnlyList<RffLayerInfo> layers)
    {
        if (config.Detection is { Layout: Vision.Configuration.DetectionConfig.DecodedLayout })
            return (null, "the model decodes and suppresses its detections inside its graph (detection.layout 'decoded'), so a detection cannot be " +
                          "traced back to the scores that produced it");
        string scores = config.Detection?.ScoresOutput ?? session.OutputName;
        var input = config.Input;
        try
        {
            return (Explainer.Create(proto, session.InputName, [1, input.Channels, input.Height, input.Width], scores,
                layers.GroupBy(l => l.Name).ToDictionary(g => g.Key, g => g.First().Output), sessions), null);
        }
        catch (Exception ex) when (ex is NotSupportedException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidDataException)
        {
            return (null, ex.Message);
        }
    }

    private static ModelProto Parse(byte[] bytes)
    {
        try
        {
            var proto = OnnxModelFile.Parse(bytes);
            return proto.Graph is null ? throw new InvalidDataException("it has no graph") : proto;
        }
        catch (Exception ex) when (ex is Google.Protobuf.InvalidProtocolBufferException or InvalidDataException)
        {
            throw new InvalidDataException($"{ModelFolder.ModelFileName} is not a valid ONNX model: {ex.Message}", ex);
        }
    }

    /// <summary>The model's queue, unless batching is off; a model whose outputs have no batch axis runs one image at a time.</summary>
    private DynamicBatcher? CreateBatcher(string name, Vision.Configuration.ModelConfig config, ModelSession session, bool batchAxis)
    {
        var settings = options.Value.Batching.With(config.Batching);
        if (!settings.Enabled) return null;
        if (!batchAxis) settings = settings.With(new Vision.Configuration.BatchingConfig { MaxBatchSize = 1 });
        return new DynamicBatcher(name, (input, shape, outputs) => session.Run(input, shape, outputs), settings, new QueueMetrics(name, metrics));
    }

    /// <summary>Reports a model's queue to the metrics.</summary>
    private sealed class QueueMetrics(string model, IInferenceMetrics? metrics) : IBatcherObserver
    {
        public void Waiting(int count) => metrics?.QueueLength(model, count);
        public void Started(int size, TimeSpan queued) => metrics?.QueueWait(model, queued);
    }
}
