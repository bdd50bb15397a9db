using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;

namespace RffService.Onnx.Explanations;

/// <summary>
/// What explanations need of a model: its RFF layers, the managed network (for gradients), and per-layer "tail"
/// sessions that run the rest of the network from a layer's activations, for Ablation-CAM.
/// </summary>
public sealed class Explainer : IDisposable
{
    private readonly ModelProto _proto;
    private readonly SessionFactory _sessions;
    private readonly ConcurrentDictionary<string, Lazy<OrtSession>> _tails = new();

    private Explainer(ModelProto proto, IReadOnlyList<RffLayerInfo> layers, SequentialNet network, SessionFactory sessions)
    {
        _proto = proto;
        Layers = layers;
        Network = network;
        _sessions = sessions;
    }

    public IReadOnlyList<RffLayerInfo> Layers { get; }
    public SequentialNet Network { get; }

    public static (Explainer? Explainer, string? Error) TryCreate(ModelProto proto, IReadOnlyList<RffLayerInfo> layers, SessionFactory sessions)
    {
        if (layers.Count == 0) return (null, "the model has no RFF layer to explain");
        try
        {
            return (new Explainer(proto, layers, SequentialNet.FromModel(proto), sessions), null);
        }
        catch (NotSupportedException ex)
        {
            return (null, ex.Message);
        }
    }

    /// <summary>Runs the rest of the network from <paramref name="layer"/>'s output on a batch of (edited) activations; returns the model output.</summary>
    public float[] RunTail(RffLayerInfo layer, float[] activations, long[] shape)
    {
        var session = _tails.GetOrAdd(layer.Output, name => new Lazy<OrtSession>(() => _sessions.Create(ModelEditor.TailFrom(_proto, name)))).Value.Session;
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
