using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;

namespace RffService.Onnx.Explanations;

/// <summary>
/// Checks each layer's gradient graph against finite differences of the forward model: a layer whose gradient
/// disagrees is refused, with the reason. At a seeded random input, with every layer moved by a small random jitter
/// (ReLU's exact zeros would otherwise tie in max pooling), each layer's gradient is compared along its own direction
/// and along random ones, at several step sizes.
/// <para>
/// ReLU, max pooling, Clip and residual sums over them are piecewise linear: a difference taken across a kink is not
/// the derivative, and along a random direction of a large map almost every large step crosses one. So a step counts
/// only where the model is linear along the direction over the whole step, which shows as four one-sided slopes
/// (over each half of [-h, 0] and [0, h]) that agree; elsewhere, and where float32 rounding swamps a small step, the
/// step says nothing. Even agreeing slopes leave the estimate as uncertain as their spread (in a large map every step
/// crosses kinks too fine to show), so a step disagrees only by more than that spread plus the tolerance. A direction
/// no step could judge is judged again at another jittered point, and so is one that
/// disagrees: it is refused only when it disagrees at two points and agrees at none. A wrong gradient shows at every
/// step where the model is linear, so it is still refused; a right one is not refused for a kink.
/// </para>
/// </summary>
internal sealed class GradientSelfCheck(PreparedModel prepared, string scoreOutput, SessionFactory sessions)
{
    /// <summary>Largest relative disagreement along the gradient's own direction, where the derivative is largest and differences most precise.</summary>
    public const double GradientDirectionTolerance = 1e-2;

    /// <summary>The same along random directions, where the derivative is about sqrt(n) times smaller: an error orthogonal to the gradient shows here.</summary>
    public const double RandomDirectionTolerance = 5e-2;

    /// <summary>
    /// The smallest change of the score, relative to the score, a step must make to count: about a thousand float32
    /// rounding units (2^-23), so that rounding cannot pass for a derivative, zero or not.
    /// </summary>
    public const double ResolvableChange = 1e-4;

    /// <summary>Finite-difference steps, as fractions of the layer's RMS activation: large ones rise above float32 rounding, small ones fit between kinks.</summary>
    public static readonly double[] StepFractions = [1e-2, 1e-3, 1e-4, 1e-5];

    /// <summary>The random jitter the check point adds to every layer, as a fraction of its RMS activation.</summary>
    public const double JitterFraction = 1e-1;

    public const int RandomDirections = 3;

    /// <summary>Jittered points tried while a layer has a direction that is not settled (see <see cref="Settled"/>).</summary>
    public const int Points = 4;

    private static readonly double[] Offsets = [1, 0.5, 0, -0.5, -1];

    /// <param name="editGraph">Tests only: edits the gradient graph the check runs, to show that it catches a wrong gradient.</param>
    /// <returns>The layers, those whose gradient is wrong (or cannot be loaded) with the reason.</returns>
    public List<CamLayer> Check(List<CamLayer> layers, int seed, Action<ModelProto>? editGraph, CancellationToken cancellationToken)
    {
        var candidates = layers.Where(l => l.Usable).ToList();
        if (candidates.Count == 0) return layers;
        OrtSession gradientSession, forwardSession;
        var tensors = candidates.Select(l => l.Tensor).ToList();
        try
        {
            var graph = ExplanationGraph.Build(prepared, tensors, scoreOutput);
            editGraph?.Invoke(graph);
            gradientSession = sessions.Create(graph);
            forwardSession = sessions.Create(ExplanationGraph.BuildForward(prepared, tensors, scoreOutput));
        }
        catch (OnnxRuntimeException ex)
        {
            var reason = $"the gradient graph could not be loaded by ONNX Runtime: {ClientMessages.WithoutInternals(ex.Message)}";
            return layers.Select(l => l.Usable ? l with { Refusal = reason } : l).ToList();
        }
        using var ownedGradient = gradientSession;
        using var ownedForward = forwardSession;

        var random = new Random(seed);
        long[] inputShape = [1, .. prepared.InputShape[1..]];
        long[] targetShape = [1, .. prepared.Shapes[scoreOutput][1..]];
        var target = Gaussian(random, Length(targetShape));
        // Per layer and direction (0: the gradient's own, then random ones): the errors of the points that could judge it.
        var verdicts = candidates.ToDictionary(l => l.Tensor, _ => Enumerable.Range(0, 1 + RandomDirections).Select(_ => new List<double>()).ToArray());
        for (int point = 0; point < Points; point++)
        {
            var open = candidates.Where(l => verdicts[l.Tensor].Select((errors, d) => Settled(errors, Tolerance(d))).Any(settled => !settled)).ToList();
            if (open.Count == 0) break;
            var input = Gaussian(random, Length(inputShape));
            var plain = ExplanationRunner.Gradients(gradientSession.Session, prepared.InputName, scoreOutput, input, inputShape, (target, targetShape),
                candidates, candidates, null);
            var jitters = candidates.ToDictionary(l => l.Tensor, l =>
            {
                var (activations, _, shape) = plain.Layers[l.Tensor];
                double scale = JitterFraction * Math.Max(Rms(activations), 1e-2);
                return (Gaussian(random, activations.Length).Select(v => (float)(v * scale)).ToArray(), shape);
            });
            var reference = ExplanationRunner.Gradients(gradientSession.Session, prepared.InputName, scoreOutput, input, inputShape, (target, targetShape),
                candidates, candidates, jitters);
            foreach (var layer in open)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var errors = Directions(forwardSession.Session, layer, candidates, reference, jitters, input, inputShape, target, random);
                var verdict = verdicts[layer.Tensor];
                for (int d = 0; d < verdict.Length; d++)
                    if (!Settled(verdict[d], Tolerance(d)) && errors[d] is { } error) verdict[d].Add(error);
            }
        }
        return layers.Select(l => l.Usable ? l with { Refusal = Refusal(verdicts[l.Tensor]) } : l).ToList();
    }

    private static double Tolerance(int direction) => direction == 0 ? GradientDirectionTolerance : RandomDirectionTolerance;

    /// <summary>
    /// A direction is settled once one point agrees, or two disagree: a wrong gradient disagrees wherever the model is
    /// linear, while a disagreement at a single point can still come from kinks too fine for the slopes to show.
    /// </summary>
    private static bool Settled(List<double> errors, double tolerance) => errors.Any(e => e <= tolerance) || errors.Count >= 2;

    private static bool Failed(List<double> errors, double tolerance) => errors.Count > 0 && errors.All(e => e > tolerance);

    private static string? Refusal(List<double>[] verdict)
    {
        if (Failed(verdict[0], GradientDirectionTolerance))
            return $"its gradient disagrees with finite differences of the model along the gradient (relative error {verdict[0].Min():G3} > {GradientDirectionTolerance:G3}), so its maps would be wrong";
        var failed = verdict.Skip(1).Where(v => Failed(v, RandomDirectionTolerance)).ToList();
        if (failed.Count > 0)
            return $"its gradient disagrees with finite differences of the model along random directions (relative error {failed.Max(v => v.Min()):G3} > {RandomDirectionTolerance:G3}), so its maps would be wrong";
        if (verdict.All(v => v.Count == 0))
            return $"its gradient could not be checked: at {Points} points, every finite-difference step along every direction crossed a kink of the model " +
                   "(ReLU, max pooling) or moved the scores less than float32 resolves (the scores barely depend on this layer there)";
        return null;
    }

    /// <summary>
    /// The relative error of the gradient along each direction: the smallest over the steps at which the model is
    /// linear along the direction; null for a direction no step could judge.
    /// </summary>
    private double?[] Directions(InferenceSession forward, CamLayer layer, List<CamLayer> all, ExplanationRun reference,
        Dictionary<string, (float[] Values, long[] Shape)> jitters, float[] input, long[] inputShape, float[] target, Random random)
    {
        var (activations, gradients, shape) = reference.Layers[layer.Tensor];
        int size = activations.Length, directions = 1 + RandomDirections;
        double rms = Math.Max(Rms(activations), 1e-2);
        var vectors = Enumerable.Range(0, directions).Select(_ => Gaussian(random, size)).ToArray();
        double gradientNorm = Math.Sqrt(gradients.Sum(g => (double)g * g));
        if (gradientNorm > 0) // the first direction: the gradient itself, with a random direction's norm, sqrt(n)
            vectors[0] = gradients.Select(g => (float)(g / gradientNorm * Math.Sqrt(size))).ToArray();

        // Row layout: direction, step, offset; the offset-0 rows repeat the centre so every block is self-contained.
        int perDirection = StepFractions.Length * Offsets.Length, rows = directions * perDirection;
        var inputs = new float[rows * input.Length];
        var delta = new float[rows * size];
        var jitter = jitters[layer.Tensor].Values;
        for (int r = 0; r < rows; r++)
        {
            input.CopyTo(inputs, r * input.Length);
            var v = vectors[r / perDirection];
            double step = StepFractions[r / Offsets.Length % StepFractions.Length] * rms * Offsets[r % Offsets.Length];
            for (int i = 0; i < size; i++) delta[r * size + i] = (float)(jitter[i] + step * v[i]);
        }
        var deltas = new Dictionary<string, (float[] Values, long[] Shape)>(jitters) { [layer.Tensor] = (delta, [rows, .. shape[1..]]) };
        var scores = ExplanationRunner.Scores(forward, prepared.InputName, scoreOutput, inputs, [rows, .. inputShape[1..]], all, deltas);
        int per = scores.Length / rows;
        double Objective(int row)
        {
            double sum = 0;
            for (int i = 0; i < per; i++) sum += (double)scores[row * per + i] * target[i];
            return sum;
        }

        var result = new double?[directions];
        for (int d = 0; d < directions; d++)
        {
            double analytic = 0;
            for (int i = 0; i < size; i++) analytic += (double)gradients[i] * vectors[d][i];
            double floor = 1e-3 * gradientNorm * Math.Sqrt(size);
            if (floor == 0 && analytic == 0) { result[d] = 0; continue; } // the layer does not move the scores, and the gradient says so
            double tolerance = d == 0 ? GradientDirectionTolerance : RandomDirectionTolerance;
            double? agreed = null, leastDisagreement = null;
            for (int f = 0; f < StepFractions.Length; f++)
            {
                int row = (d * StepFractions.Length + f) * Offsets.Length;
                double h = StepFractions[f] * rms;
                double[] values = [Objective(row), Objective(row + 1), Objective(row + 2), Objective(row + 3), Objective(row + 4)];
                double[] slopes = [(values[0] - values[1]) / (h / 2), (values[1] - values[2]) / (h / 2), (values[2] - values[3]) / (h / 2), (values[3] - values[4]) / (h / 2)];
                double central = (values[0] - values[4]) / (2 * h), half = (values[1] - values[3]) / h;
                double scale = Math.Max(Math.Max(Math.Abs(central), Math.Abs(analytic)), floor);
                double spread = (slopes.Max() - slopes.Min()) / scale;
                if (spread > tolerance / 2) continue; // a kink or rounding inside the step: it says nothing
                // A step that moves the score by less than float32 can resolve shows four equal (zero) slopes: it says nothing either.
                if (Math.Abs(values[0] - values[4]) < ResolvableChange * values.Max(Math.Abs)) continue;
                double error = Math.Min(Math.Abs(central - analytic), Math.Abs((4 * half - central) / 3 - analytic)) / scale;
                if (error <= tolerance) agreed = Math.Min(agreed ?? double.MaxValue, error);
                // The slopes' spread is what kinks too fine to see and rounding left in the step's own estimate: a step
                // disagrees only by more than that (dense kinks of a large map otherwise read as a few percent of error).
                leastDisagreement = Math.Min(leastDisagreement ?? double.MaxValue, error - spread);
            }
            if (agreed is not null) result[d] = agreed;
            else if (leastDisagreement > tolerance) result[d] = leastDisagreement;
        }
        return result;
    }

    private static double Rms(float[] values) => Math.Sqrt(values.Sum(a => (double)a * a) / values.Length);

    private static long Length(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    private static float[] Gaussian(Random random, long length)
    {
        var values = new float[length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return values;
    }
}
