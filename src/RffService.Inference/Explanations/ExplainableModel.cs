using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using RffService.Inference.Runtime;
using RffService.Onnx;
using RffService.Onnx.Proto;

namespace RffService.Inference.Explanations;

/// <summary>
/// What explanations need of a loaded model: its RFF layers, the managed network (for gradients), the serving session
/// (which returns the layers' activations), and per-layer "tail" sessions that run the rest of the network from a
/// layer's activations, for Ablation-CAM.
/// </summary>
public sealed class ExplainableModel : IDisposable
{
    private readonly ModelProto _proto;
    private readonly ExecutionProviderSelector _providers;
    private readonly ConcurrentDictionary<string, Lazy<InferenceSession>> _tails = new();

    private ExplainableModel(ModelProto proto, IReadOnlyList<RffLayerInfo> layers, SequentialNet network, ModelSession session, ExecutionProviderSelector providers)
    {
        _proto = proto;
        Layers = layers;
        Network = network;
        Session = session;
        _providers = providers;
    }

    public IReadOnlyList<RffLayerInfo> Layers { get; }
    public SequentialNet Network { get; }
    public ModelSession Session { get; }

    public static (ExplainableModel? Model, string? Error) TryCreate(ModelProto proto, IReadOnlyList<RffLayerInfo> layers, ModelSession session,
        ExecutionProviderSelector providers)
    {
        if (layers.Count == 0) return (null, "the model has no RFF layer to explain");
        try
        {
            return (new ExplainableModel(proto, layers, SequentialNet.FromModel(proto), session, providers), null);
        }
        catch (NotSupportedException ex)
        {
            return (null, ex.Message);
        }
    }

    /// <summary>Runs the rest of the network from <paramref name="layer"/>'s output on a batch of (edited) activations; returns the model output.</summary>
    public float[] RunTail(RffLayerInfo layer, float[] activations, long[] shape)
    {
        var session = _tails.GetOrAdd(layer.Output, name => new Lazy<InferenceSession>(() =>
        {
            var (options, _) = _providers.Create();
            using (options) return new InferenceSession(OnnxModelFile.ToBytes(ModelEditor.TailFrom(_proto, name)), options);
        })).Value;
        using var input = OrtValue.CreateTensorValueFromMemory(activations, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [layer.Output], [input], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose()
    {
        foreach (var tail in _tails.Values.Where(t => t.IsValueCreated)) tail.Value.Dispose();
    }
}
