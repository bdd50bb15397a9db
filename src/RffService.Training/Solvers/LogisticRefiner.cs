namespace RffService.Training.Solvers;

/// <summary>
/// Refines a ridge readout by multinomial logistic regression: L-BFGS on mean softmax cross-entropy + (penalty/2)|W|²,
/// on standardised features, starting from the ridge weights (scaled by the temperature that fits them best).
/// Needs the features in memory (N x D floats), unlike the streamed ridge fit.
/// </summary>
public static class LogisticRefiner
{
    public static RidgeReadout Refine(RidgeReadout ridge, float[] features, byte[] labels, double penalty, int iterations, Action<int, double>? onStep = null)
    {
        int n = labels.Length, d = ridge.Dimension, k = ridge.Classes;
        var (mean, scale) = Moments(features, n, d);
        var z = new float[features.Length];
        Parallel.For(0, n, r =>
        {
            for (int j = 0; j < d; j++) z[r * d + j] = (features[r * d + j] - (float)mean[j]) / (float)scale[j];
        });
        var oneHot = new float[n * k];
        for (int r = 0; r < n; r++) oneHot[r * k + labels[r]] = 1;

        // Parameters in standardised space: logits = z · V + c, with V[j, c] = W[c, j] * scale[j].
        var start = new double[d * k + k];
        for (int c = 0; c < k; c++)
        {
            double bias = ridge.Bias[c];
            for (int j = 0; j < d; j++)
            {
                start[j * k + c] = ridge.Weights[c * d + j] * scale[j];
                bias += ridge.Weights[c * d + j] * mean[j];
            }
            start[d * k + c] = bias;
        }

        using var loss = new SoftmaxLossSession(z, oneHot, n, d, k);
        (double, double[]) Objective(double[] p)
        {
            var w = p.Take(d * k).Select(v => (float)v).ToArray();
            var b = p.Skip(d * k).Select(v => (float)v).ToArray();
            var (value, gradW, gradB) = loss.Evaluate(w, b);
            var gradient = new double[p.Length];
            double regulariser = 0;
            for (int i = 0; i < d * k; i++)
            {
                gradient[i] = gradW[i] + penalty * p[i];
                regulariser += p[i] * p[i];
            }
            for (int c = 0; c < k; c++) gradient[d * k + c] = gradB[c];
            return (value + penalty / 2 * regulariser, gradient);
        }

        // Ridge logits are regression outputs (near 0..1); find the temperature that makes them good probabilities first.
        double bestTemperature = 1, bestValue = double.MaxValue;
        foreach (double temperature in new[] { 1.0, 2, 4, 8, 16, 32 })
        {
            var (value, _) = Objective(start.Select(v => v * temperature).ToArray());
            if (value < bestValue) (bestValue, bestTemperature) = (value, temperature);
        }
        var solution = Lbfgs.Minimise(Objective, start.Select(v => v * bestTemperature).ToArray(), iterations, onStep: onStep);

        var weights = new float[k * d];
        var biases = new float[k];
        for (int c = 0; c < k; c++)
        {
            double bias = solution[d * k + c];
            for (int j = 0; j < d; j++)
            {
                double w = solution[j * k + c] / scale[j];
                weights[c * d + j] = (float)w;
                bias -= w * mean[j];
            }
            biases[c] = (float)bias;
        }
        return new RidgeReadout(weights, biases, d, k);
    }

    private static (double[] Mean, double[] Scale) Moments(float[] features, int n, int d)
    {
        var mean = new double[d];
        var square = new double[d];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < d; j++)
            {
                double v = features[r * d + j];
                mean[j] += v;
                square[j] += v * v;
            }
        var scale = new double[d];
        for (int j = 0; j < d; j++)
        {
            mean[j] /= n;
            scale[j] = Math.Sqrt(Math.Max(square[j] / n - mean[j] * mean[j], 0)) + 1e-6;
        }
        return (mean, scale);
    }
}
