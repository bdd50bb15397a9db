using RffService.Training.Solvers;

namespace RffService.Training.Tests;

public class SolverTests
{
    [Fact]
    public void Cholesky_factors_and_solves_a_positive_definite_system()
    {
        const int n = 37;
        var random = new Random(3);
        var m = Enumerable.Range(0, n * n).Select(_ => random.NextDouble() - 0.5).ToArray();
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = i == j ? n : 0;
                for (int k = 0; k < n; k++) sum += m[i * n + k] * m[j * n + k];
                a[i * n + j] = sum;
            }
        var original = (double[])a.Clone();
        var x = Enumerable.Range(0, n * 2).Select(_ => random.NextDouble()).ToArray();
        var b = new double[n * 2];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 2; c++)
                for (int k = 0; k < n; k++) b[i * 2 + c] += original[i * n + k] * x[k * 2 + c];

        Cholesky.Factor(a, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double llt = 0;
                for (int k = 0; k < n; k++) llt += a[i * n + k] * a[j * n + k];
                Assert.Equal(original[i * n + j], llt, 1e-9);
            }
        Cholesky.Solve(a, n, b, 2);
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i], b[i], 1e-9);

        Assert.Throws<InvalidOperationException>(() => Cholesky.Factor([1, 2, 2, 1], 2));
    }

    [Fact]
    public void Streamed_ridge_equals_a_direct_solve()
    {
        const int n = 300, d = 12, k = 3;
        var random = new Random(5);
        var x = Enumerable.Range(0, n * d).Select(_ => (float)(random.NextDouble() * 2 + 0.5)).ToArray();
        var labels = Enumerable.Range(0, n).Select(i => (byte)(i % k)).ToArray();
        const double lambda = 0.05;

        // Streamed: three uneven batches through the ONNX Runtime Gram session.
        using var gram = new GramSession(d);
        var shift = x.AsSpan(0, d).ToArray();
        var stats = new GramAccumulator(d, k, shift);
        foreach (var (start, rows) in new[] { (0, 100), (100, 37), (137, 163) })
        {
            var batch = x.AsSpan(start * d, rows * d).ToArray();
            stats.Add(batch, rows, labels.AsSpan(start, rows), gram.Gram(batch, rows, shift));
        }
        var streamed = RidgeReadout.Fit(stats, lambda);

        // Direct: standardise the whole matrix and solve (Zᵀ Z / n + λ I) w = Zᵀ (Y - ȳ) / n by Gaussian elimination.
        var mean = new double[d];
        var std = new double[d];
        for (int j = 0; j < d; j++)
        {
            mean[j] = Enumerable.Range(0, n).Average(i => x[i * d + j]);
            std[j] = Math.Sqrt(Enumerable.Range(0, n).Average(i => Math.Pow(x[i * d + j] - mean[j], 2))) + 1e-6;
        }
        double Z(int i, int j) => (x[i * d + j] - mean[j]) / std[j];
        var meanY = Enumerable.Range(0, k).Select(c => labels.Count(l => l == c) / (double)n).ToArray();
        var system = new double[d, d + k];
        for (int a = 0; a < d; a++)
        {
            for (int b = 0; b < d; b++) system[a, b] = Enumerable.Range(0, n).Sum(i => Z(i, a) * Z(i, b)) / n + (a == b ? lambda : 0);
            for (int c = 0; c < k; c++) system[a, d + c] = Enumerable.Range(0, n).Sum(i => Z(i, a) * ((labels[i] == c ? 1 : 0) - meanY[c])) / n;
        }
        var w = GaussJordan(system, d, k);

        for (int i = 0; i < n; i++)
        {
            var logits = streamed.Predict(x.AsSpan(i * d, d), 1);
            for (int c = 0; c < k; c++)
            {
                double direct = meanY[c];
                for (int j = 0; j < d; j++) direct += w[j, c] * Z(i, j);
                Assert.Equal(direct, logits[c], 1e-4);
            }
        }
    }

    [Fact]
    public void Folds_are_disjoint_cover_everything_and_are_balanced()
    {
        var folds = Folds.Assign(103, 5, seed: 1);
        Assert.Equal(103, folds.Length);
        Assert.All(folds, f => Assert.InRange(f, 0, 4));
        var sizes = folds.GroupBy(f => f).Select(g => g.Count()).ToList();
        Assert.Equal(5, sizes.Count);
        Assert.True(sizes.Max() - sizes.Min() <= 1);
        Assert.Equal(folds, Folds.Assign(103, 5, seed: 1));
        Assert.NotEqual(folds, Folds.Assign(103, 5, seed: 2));
    }

    private static double[,] GaussJordan(double[,] m, int d, int k)
    {
        for (int col = 0; col < d; col++)
        {
            double pivot = m[col, col];
            for (int j = 0; j < d + k; j++) m[col, j] /= pivot;
            for (int row = 0; row < d; row++)
            {
                if (row == col) continue;
                double factor = m[row, col];
                for (int j = 0; j < d + k; j++) m[row, j] -= factor * m[col, j];
            }
        }
        var w = new double[d, k];
        for (int i = 0; i < d; i++)
            for (int c = 0; c < k; c++) w[i, c] = m[i, d + c];
        return w;
    }
}
