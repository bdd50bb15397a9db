namespace RffService.Training.Solvers;

/// <summary>Limited-memory BFGS with a backtracking (Armijo) line search, for smooth convex objectives.</summary>
public static class Lbfgs
{
    public delegate (double Value, double[] Gradient) Objective(double[] x);

    public static double[] Minimise(Objective f, double[] start, int iterations, int memory = 10, Action<int, double>? onStep = null)
    {
        var x = (double[])start.Clone();
        var (value, gradient) = f(x);
        var steps = new List<(double[] S, double[] Y, double Rho)>();
        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var direction = TwoLoop(gradient, steps);
            double slope = Dot(direction, gradient);
            if (slope >= 0) { direction = gradient.Select(g => -g).ToArray(); slope = Dot(direction, gradient); steps.Clear(); }

            double t = 1;
            double[] next; double nextValue; double[] nextGradient;
            while (true)
            {
                next = x.Select((v, i) => v + t * direction[i]).ToArray();
                (nextValue, nextGradient) = f(next);
                if (nextValue <= value + 1e-4 * t * slope || t < 1e-8) break;
                t *= 0.5;
            }
            var s = next.Select((v, i) => v - x[i]).ToArray();
            var y = nextGradient.Select((g, i) => g - gradient[i]).ToArray();
            double sy = Dot(s, y);
            if (sy > 1e-12)
            {
                steps.Add((s, y, 1 / sy));
                if (steps.Count > memory) steps.RemoveAt(0);
            }
            (x, value, gradient) = (next, nextValue, nextGradient);
            onStep?.Invoke(iteration + 1, value);
        }
        return x;
    }

    private static double[] TwoLoop(double[] gradient, List<(double[] S, double[] Y, double Rho)> steps)
    {
        var q = (double[])gradient.Clone();
        var alphas = new double[steps.Count];
        for (int i = steps.Count - 1; i >= 0; i--)
        {
            alphas[i] = steps[i].Rho * Dot(steps[i].S, q);
            Axpy(-alphas[i], steps[i].Y, q);
        }
        double gamma = steps.Count > 0 ? Dot(steps[^1].S, steps[^1].Y) / Dot(steps[^1].Y, steps[^1].Y) : 1;
        for (int i = 0; i < q.Length; i++) q[i] *= gamma;
        for (int i = 0; i < steps.Count; i++)
        {
            double beta = steps[i].Rho * Dot(steps[i].Y, q);
            Axpy(alphas[i] - beta, steps[i].S, q);
        }
        for (int i = 0; i < q.Length; i++) q[i] = -q[i];
        return q;
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static void Axpy(double alpha, double[] x, double[] y)
    {
        for (int i = 0; i < y.Length; i++) y[i] += alpha * x[i];
    }
}
