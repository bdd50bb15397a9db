using RffService.Onnx.Explanations;
using RffService.Vision;

namespace RffService.Inference.Models;

public enum ExplanationState
{
    /// <summary>The layers are being found and their gradients checked; classification and detection already serve.</summary>
    Checking,
    Ready,
    /// <summary>The model cannot be explained at all (see <see cref="ModelExplanations.Error"/>).</summary>
    Unavailable,
}

/// <summary>
/// The explanation engine of one model version, prepared in the background after the model serves: its candidate
/// layers are found first (listed as checking), then their gradients are checked; requests wait for the check within
/// a bound. Checks of all models take turns through one <see cref="ExplanationCheckGate"/>; a request waiting for a
/// check moves it to the front.
/// </summary>
public sealed class ModelExplanations : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<Explainer?> _work;
    private volatile ExplanationCandidates? _candidates;
    private volatile Explainer? _explainer;
    private volatile string? _error;
    private readonly ExplanationCheckGate? _gate;
    private readonly ExplanationCheckGate.Turn? _turn;

    private ModelExplanations(string error)
    {
        _error = error;
        _work = Task.FromResult<Explainer?>(null);
    }

    private ModelExplanations(Func<ExplanationCandidates> discover, Func<ExplanationCandidates, CancellationToken, Explainer> check, ExplanationCheckGate gate)
    {
        _gate = gate;
        _turn = gate.Queue();
        _work = Task.Run(async () =>
        {
            await gate.EnterAsync(_turn, _stop.Token);
            try
            {
                _candidates = discover();
                _stop.Token.ThrowIfCancellationRequested();
                return _explainer = check(_candidates, _stop.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _error = RffService.Onnx.Runtime.ClientMessages.WithoutInternals(
                    ex is NotSupportedException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidDataException
                        ? ex.Message
                        : $"preparing the explanation graphs failed ({ex.Message})");
                return null;
            }
            finally
            {
                gate.Release();
            }
        });
    }

    /// <summary>A model that cannot be explained, for the reason given.</summary>
    public static ModelExplanations Unavailable(string reason) => new(reason);

    /// <summary>Starts finding and checking the layers in the background, once <paramref name="gate"/> lets it.</summary>
    public static ModelExplanations Start(Func<ExplanationCandidates> discover, Func<ExplanationCandidates, CancellationToken, Explainer> check, ExplanationCheckGate gate) =>
        new(discover, check, gate);

    public ExplanationState State => _explainer is not null ? ExplanationState.Ready
        : _error is not null || _work.IsCompleted ? ExplanationState.Unavailable : ExplanationState.Checking;

    /// <summary>The engine once its layers are checked; null while checking or when the model cannot be explained.</summary>
    public Explainer? Explainer => _explainer;

    /// <summary>Why the model cannot be explained at all, when it cannot.</summary>
    public string? Error => _error ?? (_work.IsCanceled ? "the model was unloaded before its explanations were ready" : null);

    /// <summary>The checked layers; while checking, the candidates (usable ones not yet checked).</summary>
    public IReadOnlyList<CamLayer> Layers => _explainer?.Layers ?? _candidates?.Layers ?? [];

    /// <summary>True when the model was unloaded before the check finished (nothing to report).</summary>
    public bool Stopped => _work.IsCanceled;

    /// <summary>Completes when the check is done, whatever its outcome.</summary>
    public Task Completion => _work.ContinueWith(_ => { }, TaskScheduler.Default);

    /// <summary>
    /// The engine, waiting for the check at most <paramref name="wait"/>: 503 with Retry-After when it is still running
    /// then, 422 with the reason when the model cannot be explained.
    /// </summary>
    public async Task<Explainer> ReadyAsync(string model, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (_explainer is { } ready) return ready;
        if (!_work.IsCompleted)
        {
            _gate!.Promote(_turn!);
            await ((Task)_work).WaitAsync(wait, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (_explainer is { } checkedNow) return checkedNow;
        if (!_work.IsCompleted)
            throw new InferenceException(ErrorKind.Unavailable, "Explanations not ready",
                $"Model '{model}' serves, but its explanation layers are still being checked; retry shortly.");
        throw new InferenceException(ErrorKind.InvalidParameter, "Model cannot be explained", $"Model '{model}' cannot be explained: {Error}.");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await ((Task)_work).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _explainer?.Dispose();
        _stop.Dispose();
    }
}
