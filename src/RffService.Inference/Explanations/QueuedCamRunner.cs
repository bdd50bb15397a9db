using RffService.Inference.Models;
using RffService.Onnx.Explanations;
using RffService.Vision.Imaging;

namespace RffService.Inference.Explanations;

/// <summary>Runs an explanation's model work through the model's queue, one piece at a time, with the request's cancellation.</summary>
public sealed class QueuedCamRunner(ModelRuntime runtime, Explainer explainer, CamTarget target, InputSpec spec, float[] input) : ICamRunner
{
    /// <summary>Explanations run behind the model's cheap requests.</summary>
    public Task<T> QueueAsync<T>(Func<T> work, CancellationToken cancellationToken) => runtime.RunInTurnAsync(work, cancellationToken, background: true);

    public async Task<float[]> ProbabilitiesAsync(float[] inputs, int count, CancellationToken cancellationToken)
    {
        string output = explainer.ScoreOutput;
        long[] shape = [count, spec.Channels, spec.Height, spec.Width];
        // An intervened network is not the serving session's: its own forward graph scores the inputs.
        var scores = await QueueAsync(() => explainer.IsIntervened ? explainer.Scores(inputs, shape) : runtime.Session.Run(inputs, shape, [output])[output].Values,
            cancellationToken);
        int per = scores.Length / count;
        return Enumerable.Range(0, count).Select(i => target.Probability(scores.AsSpan(i * per, per))).ToArray();
    }

    public async Task<float[]> ScoresWithDeltasAsync(CamLayer layer, float[] deltas, int[] activationShape, int count, CancellationToken cancellationToken)
    {
        var inputs = new float[count * input.Length];
        for (int i = 0; i < count; i++) input.CopyTo(inputs, i * input.Length);
        long[] deltaShape = [count, activationShape[1], activationShape[2], activationShape[3]];
        var scores = await QueueAsync(() => explainer.Scores(inputs, [count, spec.Channels, spec.Height, spec.Width], layer, deltas, deltaShape), cancellationToken);
        int per = scores.Length / count;
        return Enumerable.Range(0, count).Select(i => target.Score(scores.AsSpan(i * per, per))).ToArray();
    }
}
