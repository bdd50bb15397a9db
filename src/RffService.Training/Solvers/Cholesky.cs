using System.Numerics;

namespace RffService.Training.Solvers;

/// <summary>Cholesky factorisation A = L Lᵀ of a symmetric positive-definite matrix, and solves with it.</summary>
public static class Cholesky
{
    /// <summary>
    /// Factors <paramref name="a"/> (n x n, row-major; only the lower triangle is read) into L, in place.
    /// Column by column; the entries below the diagonal of one column are independent and computed in parallel.
    /// </summary>
    public static void Factor(double[] a, int n)
    {
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.AsSpan(j * n, j);
            double diagonal = a[j * n + j] - Dot(rowJ, rowJ);
            if (!(diagonal > 0))
                throw new InvalidOperationException($"The matrix is not positive definite (pivot {j} = {diagonal:G3}); increase the ridge penalty.");
            double ljj = Math.Sqrt(diagonal);
            a[j * n + j] = ljj;
            int column = j;
            Parallel.For(j + 1, n, i =>
            {
                a[i * n + column] = (a[i * n + column] - Dot(a.AsSpan(i * n, column), a.AsSpan(column * n, column))) / ljj;
            });
        }
        for (int i = 0; i < n; i++)
            Array.Clear(a, i * n + i + 1, n - i - 1); // the upper triangle held A; leave a clean L
    }

    /// <summary>Solves L Lᵀ X = B for B with <paramref name="columns"/> right-hand sides (n x columns, row-major), in place.</summary>
    public static void Solve(double[] l, int n, double[] b, int columns)
    {
        for (int c = 0; c < columns; c++)
        {
            for (int i = 0; i < n; i++) // L y = b
            {
                double sum = b[i * columns + c];
                for (int k = 0; k < i; k++) sum -= l[i * n + k] * b[k * columns + c];
                b[i * columns + c] = sum / l[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--) // Lᵀ x = y
            {
                double sum = b[i * columns + c];
                for (int k = i + 1; k < n; k++) sum -= l[k * n + i] * b[k * columns + c];
                b[i * columns + c] = sum / l[i * n + i];
            }
        }
    }

    private static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int i = 0;
        var acc = Vector<double>.Zero;
        for (; i <= x.Length - Vector<double>.Count; i += Vector<double>.Count)
            acc += new Vector<double>(x.Slice(i)) * new Vector<double>(y.Slice(i));
        double sum = Vector.Sum(acc);
        for (; i < x.Length; i++) sum += x[i] * y[i];
        return sum;
    }
}
