using RffService.Training.Solvers;

namespace RffService.Training.Tests;

public class LogisticTests
{
    [Fact]
    public void Softmax_loss_gradient_matches_finite_differences()
    {
        const int n = 40, d = 5, k = 3;
        var random = new Random(8);
        var z = Enumerable.Range(0, n * d).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var y = new float[n * k];
        for (int i = 0; i < n; i++) y[i * k + i % k] = 1;
        var w = Enumerable.Range(0, d * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new[] { 0.1f, -0.2f, 0.05f };
        using var session = new SoftmaxLossSession(z, y, n, d, k);

        var (loss, gradW, gradB) = session.Evaluate(w, b);
        Assert.Equal(ReferenceLoss(z, y, w, b, n, d, k), loss, 1e-5);
        const float h = 1e-2f;
        for (int i = 0; i < w.Length; i++)
        {
            var plus = (float[])w.Clone(); plus[i] += h;
            var minus = (float[])w.Clone(); minus[i] -= h;
            double numeric = (ReferenceLoss(z, y, plus, b, n, d, k) - ReferenceLoss(z, y, minus, b, n, d, k)) / (2 * h);
            Assert.Equal(numeric, gradW[i], 1e-4);
        }
        for (int c = 0; c < k; c++)
        {
            var plus = (float[])b.Clone(); plus[c] += h;
            var minus = (float[])b.Clone(); minus[c] -= h;
            double numeric = (ReferenceLoss(z, y, w, plus, n, d, k) - ReferenceLoss(z, y, w, minus, n, d, k)) / (2 * h);
            Assert.Equal(numeric, gradB[c], 1e-4);
        }
    }

    [Fact]
    public void Lbfgs_finds_the_minimum_of_an_ill_conditioned_quadratic()
    {
        double[] scales = [1, 10, 100, 1000];
        double[] target = [1, -2, 3, -4];
        (double, double[]) F(double[] x) =>
            (x.Select((v, i) => 0.5 * scales[i] * (v - target[i]) * (v - target[i])).Sum(),
             x.Select((v, i) => scales[i] * (v - target[i])).ToArray());
        var solution = Lbfgs.Minimise(F, new double[4], iterations: 50);
        for (int i = 0; i < 4; i++) Assert.Equal(target[i], solution[i], 1e-4);
    }

    [Fact]
    public void Refinement_lowers_the_training_loss_of_a_ridge_readout()
    {
        const int n = 400, d = 6, k = 3;
        var random = new Random(2);
        var labels = Enumerable.Range(0, n).Select(i => (byte)(i % k)).ToArray();
        var features = new float[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                features[i * d + j] = (float)(random.NextDouble() + (j == labels[i] ? 1.2 : 0));
        using var gram = new GramSession(d);
        var stats = new GramAccumulator(d, k, new float[d]);
        stats.Add(features, n, labels, gram.Gram(features, n, new float[d]));
        var ridge = RidgeReadout.Fit(stats, 1e-3);

        var refined = LogisticRefiner.Refine(ridge, features, labels, penalty: 1e-4, iterations: 40);

        Assert.True(CrossEntropy(refined, features, labels, n) < CrossEntropy(ridge, features, labels, n));
        Assert.True(Accuracy(refined, features, labels, n) >= Accuracy(ridge, features, labels, n));
    }

    private static double ReferenceLoss(float[] z, float[] y, float[] w, float[] b, int n, int d, int k)
    {
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var logits = new double[k];
            for (int c = 0; c < k; c++)
            {
                logits[c] = b[c];
                for (int j = 0; j < d; j++) logits[c] += z[i * d + j] * w[j * k + c];
            }
            double max = logits.Max(), log = Math.Log(logits.Sum(l => Math.Exp(l - max))) + max;
            for (int c = 0; c < k; c++) total -= y[i * k + c] * (logits[c] - log);
        }
        return total / n;
    }

    private static double CrossEntropy(RidgeReadout readout, float[] features, byte[] labels, int n)
    {
        var logits = readout.Predict(features, n);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var row = logits.AsSpan(i * readout.Classes, readout.Classes).ToArray();
            double max = row.Max(), log = Math.Log(row.Sum(l => Math.Exp(l - max))) + max;
            total -= row[labels[i]] - log;
        }
        return total / n;
    }

    private static double Accuracy(RidgeReadout readout, float[] features, byte[] labels, int n)
    {
        var logits = readout.Predict(features, n);
        return Enumerable.Range(0, n).Count(i => RidgeReadout.ArgMax(logits.AsSpan(i * readout.Classes, readout.Classes)) == labels[i]) / (double)n;
    }
}
