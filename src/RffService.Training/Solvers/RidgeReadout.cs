namespace RffService.Training.Solvers;

/// <summary>
/// A linear readout <c>logits = W x + b</c> fitted by ridge regression on one-hot targets, with features centred and
/// scaled to unit variance inside the solve (so one penalty suits every layer width), folded back into W and b.
/// </summary>
public sealed record RidgeReadout(float[] Weights, float[] Bias, int Dimension, int Classes)
{
    /// <summary>Solves <c>(C/n + λ I) w = (Σ (x - μ)(y - ȳ)ᵀ)/n</c> on standardised features.</summary>
    public static RidgeReadout Fit(GramAccumulator stats, double lambda)
    {
        int d = stats.Dimension, k = stats.Classes;
        double n = stats.Count;
        var mean = stats.SumX.Select(s => s / n).ToArray();          // mean of (x - shift)
        var meanY = stats.SumY.Select(s => s / n).ToArray();
        var scale = new double[d];
        for (int i = 0; i < d; i++)
        {
            double variance = stats.XtX[i * d + i] / n - mean[i] * mean[i];
            scale[i] = Math.Sqrt(Math.Max(variance, 0)) + 1e-6;
        }

        var a = new double[d * d];
        Parallel.For(0, d, i =>
        {
            for (int j = 0; j <= i; j++)
                a[i * d + j] = (stats.XtX[i * d + j] / n - mean[i] * mean[j]) / (scale[i] * scale[j]);
            a[i * d + i] += lambda;
        });
        var b = new double[d * k];
        for (int i = 0; i < d; i++)
            for (int c = 0; c < k; c++)
                b[i * k + c] = (stats.XtY[i * k + c] / n - mean[i] * meanY[c]) / scale[i];

        Cholesky.Factor(a, d);
        Cholesky.Solve(a, d, b, k);

        // logits = Σ_i w_ic (x_i - shift_i - mean_i) / scale_i + ȳ_c
        var weights = new float[k * d];
        var bias = new float[k];
        for (int c = 0; c < k; c++)
        {
            double offset = meanY[c];
            for (int i = 0; i < d; i++)
            {
                double w = b[i * k + c] / scale[i];
                weights[c * d + i] = (float)w;
                offset -= w * (stats.Shift[i] + mean[i]);
            }
            bias[c] = (float)offset;
        }
        return new RidgeReadout(weights, bias, d, k);
    }

    /// <summary>Logits for rows of features [rows, D].</summary>
    public float[] Predict(ReadOnlySpan<float> features, int rows)
    {
        var logits = new float[rows * Classes];
        for (int r = 0; r < rows; r++)
        {
            var x = features.Slice(r * Dimension, Dimension);
            for (int c = 0; c < Classes; c++)
            {
                double sum = Bias[c];
                var w = Weights.AsSpan(c * Dimension, Dimension);
                for (int i = 0; i < Dimension; i++) sum += w[i] * x[i];
                logits[r * Classes + c] = (float)sum;
            }
        }
        return logits;
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
