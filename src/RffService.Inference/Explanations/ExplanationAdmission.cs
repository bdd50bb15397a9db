using RffService.Onnx.Explanations;
using RffService.Vision;

namespace RffService.Inference.Explanations;

/// <summary>
/// Admits explanations of one model version by their estimated cost, before any work starts: one that needs more
/// model passes than allowed, or more time than its budget, is refused at once (422, saying how to lower the cost);
/// one that would not finish in time behind the explanations already admitted is refused with 503 and Retry-After,
/// rather than queued to time out. The cost of a pass is the model's recent time per image.
/// </summary>
public sealed class ExplanationAdmission
{
    /// <summary>Faithfulness scores the map with this many perturbed inputs.</summary>
    public const int FaithfulnessPasses = 18;

    private readonly object _lock = new();
    private double _outstandingSeconds;

    /// <summary>
    /// Model passes of one image an explanation costs: the explanation graph (forward and backward, counted as 3), the
    /// blank reference, one per scored channel of each layer for Score-CAM and Ablation-CAM, and faithfulness.
    /// </summary>
    public static long Passes(CamMethod method, IReadOnlyList<CamLayer> layers, CamRequest request)
    {
        long passes = 3 + (request.BlankBaseline ? 1 : 0) + (request.MeasureFaithfulness ? FaithfulnessPasses : 0);
        if (!method.UsesGradients)
            passes += layers.Sum(l => Math.Min(request.Channels ?? l.Channels, l.Channels));
        return passes;
    }

    /// <summary>Admits the explanation (dispose the result when it is done) or throws the refusal.</summary>
    public IDisposable Admit(string model, long passes, TimeSpan timePerPass, int maxPasses, TimeSpan? budget)
    {
        if (passes > maxPasses)
            throw new InferenceException(ErrorKind.InvalidParameter, "Explanation too expensive",
                $"This explanation needs about {passes} model passes; the limit is {maxPasses} (Inference:MaxExplanationPasses). " +
                "Score fewer channels (channels=24), name fewer layers instead of layer=all, or use a gradient method (gradcam, layercam).");
        double seconds = passes * timePerPass.TotalSeconds;
        if (budget is not { } limit) return Admitted(seconds);
        if (seconds > limit.TotalSeconds)
            throw new InferenceException(ErrorKind.InvalidParameter, "Explanation too slow",
                $"This explanation needs about {passes} model passes, an estimated {seconds:F1} s; requests may take {limit.TotalSeconds:F0} s. " +
                "Score fewer channels, name fewer layers, or use a gradient method.");
        lock (_lock)
        {
            if (_outstandingSeconds > 0 && _outstandingSeconds + seconds > limit.TotalSeconds)
                throw new InferenceException(ErrorKind.Unavailable, "Explanations busy",
                    $"Model '{model}' is busy with explanations estimated to take {_outstandingSeconds:F1} s more; this one would not finish in time. Retry shortly.");
            _outstandingSeconds += seconds;
        }
        return new Release(this, seconds);
    }

    private IDisposable Admitted(double seconds)
    {
        lock (_lock) _outstandingSeconds += seconds;
        return new Release(this, seconds);
    }

    private sealed class Release(ExplanationAdmission admission, double seconds) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            lock (admission._lock) admission._outstandingSeconds = Math.Max(0, admission._outstandingSeconds - seconds);
        }
    }
}
