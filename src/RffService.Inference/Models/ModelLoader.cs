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
public sealed class ModelLoader(SessionFactory sessions, IOptions<InferenceOptions> options, IInferenceMetrics? metrics = null, GraphSessionCache? graphs = null,
    Microsoft.Extensions.Logging.ILogger<ModelLoader>? logger = null)
{
    /// <summary>Explanation checks take turns: one model at a time, beside the serving work.</summary>
    private readonly ExplanationCheckGate _explanationChecks = new();

    public ModelEntry Load(ModelEntry entry)
    {
        if (entry.State == ModelState.Failed) return entry;
        ModelSession? session = null;
        try
        {
            if (entry.Version is not { } version)
                throw new InvalidDataException("no version folder (models/<name>/<number>/model.onnx) was found");
            string path = ModelFolder.ModelPath(entry, version);
            if (!File.Exists(path))
                throw new FileNotFoundException($"version {version} has no {ModelFolder.ModelFileName}");
            var proto = Parse(File.ReadAllBytes(path));
            // External data is read now, from the model's folder only: everything built later is built from memory.
            ExternalData.Inline(proto, Path.GetDirectoryName(path)!);
            // An export without dynamic_axes fixes the batch at 1: given a symbolic batch when the graph runs batches all the same.
            if (FixedBatch.Relax(proto, sessions) is { } relaxed) proto = relaxed;
            // Exporters leave constants behind Identity, Reshape, Exp (sigma as exp(log_sigma)) and the like: the layers are read on the folded graph.
            var inspector = new ModelInspector(ConstantFolder.Fold(proto, sessions));
            var layers = inspector.FindRffLayers();

            // The session also returns every RFF layer's activations on request (for explanations).
            var served = proto.Clone();
            ModelEditor.ExposeOutputs(served, layers.Select(l => l.Output));
            var ort = sessions.Create(served);
            try
            {
                if (ort.Session.InputNames.Count > 1)
                    throw new InvalidDataException($"the model has {ort.Session.InputNames.Count} inputs ({string.Join(", ", ort.Session.InputNames)}); the service feeds " +
                                                   "one image tensor, so export it with one input (make the others constants or attributes)");
                var found = entry.Config ?? Infer(proto, ort);
                if (ort.Session.InputMetadata[found.Input.Name ?? ort.Session.InputNames[0]].ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8)
                    found = RawPixels(found);
                entry = entry with { Config = found, ConfigInferred = entry.Config is null };
                session = new ModelSession(ort, entry.Name, found.Task, found.Input.Name, found.Output.Name ?? found.Detection?.ScoresOutput, metrics,
                    found.Input.ChannelsLast);
            }
            catch
            {
                ort.Dispose();
                throw;
            }
            var config = entry.Config!;
            var decoder = config.Detection is { } detection
                ? IDetectionDecoder.Create(detection, config.Labels.Count, config.Input.Width, config.Input.Height)
                : null;
            bool batchAxis = ModelConformance.Check(session, config, decoder);
            var batcher = CreateBatcher(entry.Name, config, session, batchAxis);
            var runtime = new ModelRuntime(config, session, layers, decoder, batchAxis, batcher, Explanations(proto, config, session, layers), inspector.UnrecognisedRffChains());
            return entry with { State = ModelState.Ready, Error = null, Runtime = runtime };
        }
        catch (Exception ex)
        {
            session?.Dispose();
            // Clients see the reason without server paths or native internals; the log keeps the original.
            if (logger is not null) Microsoft.Extensions.Logging.LoggerExtensions.LogDebug(logger, ex, "Model {Model} failed to load", entry.Name);
            return entry.Failed(ClientMessages.WithoutInternals(ex.Message));
        }
    }

    /// <summary>A config inferred from the model file when the folder has no config.json, if the file says everything needed.</summary>
    private static Vision.Configuration.ModelConfig Infer(ModelProto proto, OrtSession ort)
    {
        var proposal = ModelConfigInference.Propose(proto, shape => Probe(ort, shape));
        return proposal.Complete ? proposal.Config
            : throw new InvalidDataException($"{ModelFolder.ConfigFileName} is missing and the model file does not say everything it needs: " +
                                             string.Join("; ", proposal.Missing) + ". Write a config.json (`RffService.Api inspect model.onnx` proposes one).");
    }

    /// <summary>One byte per pixel value, as the image holds it: the normalisation of a uint8 input.</summary>
    public const float RawPixelStd = 1f / 255f;

    /// <summary>
    /// A uint8 input takes the pixels as they are (0-255) and normalises inside the graph: the service writes pixel
    /// values (mean 0, std 1/255). A config.json that leaves mean and std out gets that; one that sets others is refused.
    /// </summary>
    private static Vision.Configuration.ModelConfig RawPixels(Vision.Configuration.ModelConfig config)
    {
        var input = config.Input;
        bool raw = input.Mean.All(m => m == 0) && input.Std.All(s => Math.Abs(s - RawPixelStd) < 1e-7f);
        bool unset = input.Mean.All(m => m == 0) && input.Std.All(s => s == 1);
        if (raw) return config;
        if (!unset)
            throw new InvalidDataException("the model's input is uint8: it takes the pixels as they are (0-255) and normalises inside its graph, so " +
                                           "leave input.mean and input.std out of config.json");
        return config with { Input = input with { Mean = [0f], Std = [RawPixelStd] } };
    }

    /// <summary>The output shapes of one run on a blank input of <paramref name="shape"/> (of the input's element type).</summary>
    public static IReadOnlyDictionary<string, long[]> Probe(OrtSession ort, long[] shape)
    {
        var session = ort.Session;
        long length = shape.Aggregate(1L, (a, b) => a * b);
        using var input = session.InputMetadata[session.InputNames[0]].ElementDataType switch
        {
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8 => Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new byte[length], shape),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16 =>
                Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new Microsoft.ML.OnnxRuntime.Float16[length], shape),
            _ => Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new float[length], shape),
        };
        using var options = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var outputs = session.Run(options, [session.InputNames[0]], [input], session.OutputNames);
        return session.OutputNames.Select((name, i) => (name, outputs[i].GetTensorTypeAndShape().Shape)).ToDictionary(p => p.name, p => p.Shape);
    }

    /// <summary>The explanation engine, prepared in the background, or why the model cannot be explained (the rest of the model serves either way).</summary>
    private ModelExplanations Explanations(ModelProto proto, Vision.Configuration.ModelConfig config, ModelSession session, IReadOnlyList<RffLayerInfo> layers)
    {
        if (config.Detection is { Layout: Vision.Configuration.DetectionConfig.DecodedLayout })
            return ModelExplanations.Unavailable("the model decodes and suppresses its detections inside its graph (detection.layout 'decoded'), so a " +
                                                 "detection cannot be traced back to the scores that produced it");
        if (!session.InputHasBatchAxis)
            return ModelExplanations.Unavailable("the model's input has no batch axis (one image [C, H, W]); explanations run batches of images");
        if (session.FixedBatchSize is not null)
            return ModelExplanations.Unavailable("the model's batch axis is fixed at 1 and its graph computes with that size (a Reshape to [1, -1], for " +
                                                 "example), so it cannot run the batches explanations need; export it with " +
                                                 $"dynamic_axes={{'{session.InputName}': {{0: 'batch'}}, '{session.OutputName}': {{0: 'batch'}}}}");
        string scores = config.Detection?.ScoresOutput ?? session.OutputName;
        var input = config.Input;
        var rff = layers.GroupBy(l => l.Name).ToDictionary(g => g.Key, g => g.First().Output);
        // Explanations take the pipeline's float32 NCHW tensors; an NHWC, uint8 or float16 input is converted in their graphs.
        var explained = ModelEditor.WithFloatNchwInput(proto, session.InputName, session.ChannelsLast);
        return ModelExplanations.Start(
            () => Explainer.Discover(explained, session.InputName, [1, input.Channels, input.Height, input.Width], scores, rff, sessions,
                config.Detection is null ? DefaultLayerRule.LastRffLayer : DefaultLayerRule.HeadInput),
            (candidates, stop) => Explainer.Check(candidates, sessions, graphs, cancellationToken: stop),
            _explanationChecks);
    }

    /// <summary>
    /// A model file's contents as the service runs them: parsed, and given the ai.rff::RffConv definition when it uses
    /// the operator without carrying it.
    /// </summary>
    public static ModelProto Parse(byte[] bytes)
    {
        try
        {
            var proto = OnnxModelFile.Parse(bytes);
            if (proto.Graph is null) throw new InvalidDataException("it has no graph");
            RffConvOperator.SupplyDefinition(proto);
            return proto;
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
