using RffService.Training.Solvers;

namespace RffService.Training.Detection;

/// <summary>Accumulates ridge statistics row by row, computing XᵀX a few thousand rows at a time with ONNX Runtime's GEMM.</summary>
public sealed class RidgeStream(int dimension, int targets, GramSession gram, int bufferRows = 2048)
{
    private readonly float[] _rows = new float[bufferRows * dimension];
    private readonly float[] _targets = new float[bufferRows * targets];
    private int _count;
    private GramAccumulator? _stats;

    public long Rows => (_stats?.Count ?? 0) + _count;

    public void Add(ReadOnlySpan<float> row, ReadOnlySpan<float> target)
    {
        row.CopyTo(_rows.AsSpan(_count * dimension, dimension));
        target.CopyTo(_targets.AsSpan(_count * targets, targets));
        if (++_count == bufferRows) Flush();
    }

    public GramAccumulator Statistics()
    {
        Flush();
        return _stats ?? throw new InvalidOperationException("No rows were added.");
    }

    private void Flush()
    {
        if (_count == 0) return;
        if (_stats is null)
        {
            // The shift is the first buffer's mean, so the centred sums lose no precision.
            var shift = new float[dimension];
            for (int r = 0; r < _count; r++)
                for (int j = 0; j < dimension; j++) shift[j] += _rows[r * dimension + j] / _count;
            _stats = new GramAccumulator(dimension, targets, shift);
        }
        var rows = _rows.AsSpan(0, _count * dimension).ToArray();
        _stats.Add(rows, _count, _targets.AsSpan(0, _count * targets), gram.Gram(rows, _count, _stats.Shift));
        _count = 0;
    }
}
