namespace RffService.Training.Solvers;

/// <summary>
/// The sufficient statistics of a linear least-squares readout, accumulated one batch at a time:
/// <c>Σ x xᵀ</c>, <c>Σ x</c>, <c>Σ x yᵀ</c>, <c>Σ y</c> and the count, over features shifted by a fixed vector
/// (a rough mean, taken from the first batch) so that centring later loses no precision. Memory is O(D²),
/// whatever the number of images.
/// </summary>
public sealed class GramAccumulator(int dimension, int classes, float[] shift)
{
    public int Dimension { get; } = dimension;
    public int Classes { get; } = classes;
    public float[] Shift { get; } = shift;
    public double[] XtX { get; } = new double[dimension * dimension];
    public double[] SumX { get; } = new double[dimension];
    public double[] XtY { get; } = new double[dimension * classes];
    public double[] SumY { get; } = new double[classes];
    public long Count { get; private set; }

    /// <summary>Adds a batch: <paramref name="gram"/> is (F - shift)ᵀ(F - shift) of these rows (from <see cref="GramSession"/>).</summary>
    public void Add(float[] features, int rows, ReadOnlySpan<byte> labels, float[] gram)
    {
        int d = Dimension;
        AddGram(gram);
        for (int r = 0; r < rows; r++)
        {
            var x = features.AsSpan(r * d, d);
            int label = labels[r];
            SumY[label] += 1;
            for (int j = 0; j < d; j++)
            {
                double v = x[j] - Shift[j];
                SumX[j] += v;
                XtY[j * Classes + label] += v;
            }
        }
        Count += rows;
    }

    /// <summary>Adds a batch with real-valued targets [rows, Classes] (e.g. box offsets, or several one-hot blocks).</summary>
    public void Add(float[] features, int rows, ReadOnlySpan<float> targets, float[] gram)
    {
        int d = Dimension;
        AddGram(gram);
        for (int r = 0; r < rows; r++)
        {
            var x = features.AsSpan(r * d, d);
            var y = targets.Slice(r * Classes, Classes);
            var nonZero = new List<int>();
            for (int c = 0; c < Classes; c++)
                if (y[c] != 0)
                {
                    SumY[c] += y[c];
                    nonZero.Add(c); // one-hot blocks are mostly zeros
                }
            for (int j = 0; j < d; j++)
            {
                double v = x[j] - Shift[j];
                SumX[j] += v;
                foreach (int c in nonZero) XtY[j * Classes + c] += v * y[c];
            }
        }
        Count += rows;
    }

    private void AddGram(float[] gram)
    {
        int d = Dimension;
        Parallel.For(0, d, i =>
        {
            var row = XtX.AsSpan(i * d, d);
            var source = gram.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) row[j] += source[j];
        });
    }

    /// <summary>Adds (or with <paramref name="sign"/> = -1 removes) another accumulator with the same shift.</summary>
    public void Add(GramAccumulator other, int sign = 1)
    {
        Combine(XtX, other.XtX, sign);
        Combine(SumX, other.SumX, sign);
        Combine(XtY, other.XtY, sign);
        Combine(SumY, other.SumY, sign);
        Count += sign * other.Count;
    }

    public GramAccumulator Clone()
    {
        var copy = new GramAccumulator(Dimension, Classes, Shift);
        copy.Add(this);
        return copy;
    }

    private static void Combine(double[] target, double[] source, int sign)
    {
        for (int i = 0; i < target.Length; i++) target[i] += sign * source[i];
    }
}
