using RffService.Inference.Batching;
using RffService.Inference.Runtime;
using RffService.Onnx;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;

namespace RffService.Inference.Models;

/// <summary>
/// Everything a ready model version needs to serve, built once by the <see cref="ModelLoader"/> and never changed:
/// its session, its queue (dynamic batcher), the detector's decoder and the explanation engine (checked in the background).
/// </summary>
public sealed class ModelRuntime(
    ModelConfig config,
    ModelSession session,
    IReadOnlyList<RffLayerInfo> rffLayers,
    IDetectionDecoder? decoder,
    bool batchAxis,
    DynamicBatcher? batcher,
    ModelExplanations explanations,
    IReadOnlyList<UnrecognisedRffChain>? unrecognisedRffChains = null) : IAsyncDisposable
{
    public ModelConfig Config { get; } = config;
    public ModelSession Session { get; } = session;
    public IReadOnlyList<RffLayerInfo> RffLayers { get; } = rffLayers;
    /// <summary>Cos-after-Conv chains not read as RFF layers, with the reason.</summary>
    public IReadOnlyList<UnrecognisedRffChain> UnrecognisedRffChains { get; } = unrecognisedRffChains ?? [];
    /// <summary>For detection models: reads the outputs into detections.</summary>
    public IDetectionDecoder? Decoder { get; } = decoder;
    /// <summary>False when the outputs have no batch axis (the model runs one image at a time).</summary>
    public bool BatchAxis { get; } = batchAxis;
    /// <summary>Queues single images into batched runs; null when batching is off for this model.</summary>
    public DynamicBatcher? Batcher { get; } = batcher;
    /// <summary>The explanation engine, checked in the background after the model serves.</summary>
    public ModelExplanations Explanations { get; } = explanations;

    public string ExecutionProvider => Session.ExecutionProvider;

    /// <summary>The outputs the model reads into results: the classifier's scores, or the detector decoder's outputs.</summary>
    public IReadOnlyList<string> ResultOutputs => Decoder?.OutputNames ?? [Session.OutputName];

    /// <summary>
    /// Runs work that uses the session as one turn in the model's queue (so that it never competes with the queue's
    /// batches; in the background lane, behind cheap requests); on the thread pool when batching is off.
    /// </summary>
    public Task<T> RunInTurnAsync<T>(Func<T> work, CancellationToken cancellationToken, bool background = false) =>
        Batcher is { } batcher ? batcher.RunAsync(work, cancellationToken, background) : Task.Run(work, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Batcher is not null) await Batcher.DisposeAsync(); // stops taking work; queued callers get 503
        await Explanations.DisposeAsync();
        Session.Dispose();
    }
}
