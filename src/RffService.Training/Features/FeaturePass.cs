using RffService.Onnx;
using RffService.Training.Data;
using RffService.Training.Solvers;

using RffService.Training.Common;
namespace RffService.Training.Features;

/// <summary>
/// One streamed pass over a data set: features in batches through ONNX Runtime, their Gram matrix per batch, and
/// per-fold accumulators of the readout statistics. Optionally keeps the features (for cross-validation predictions).
/// </summary>
public sealed class FeaturePass(RffCnnSpec spec, Normalisation normalisation, int batchSize = 500)
{
    public sealed record Result(GramAccumulator[] Folds, float[]? Features, double ExtractSeconds, double GramSeconds);

    /// <param name="data">Images.</param>
    /// <param name="foldOf">Fold of each image (all 0 for a single accumulator).</param>
    /// <param name="folds">Number of folds.</param>
    /// <param name="mirror">Also add each image mirrored left-right (augmentation, training only).</param>
    /// <param name="keepFeatures">Keep the (unmirrored) features of every image.</param>
    /// <param name="title">Progress bar title.</param>
    public Result Run(ImageDataset data, int[] foldOf, int folds, bool mirror, bool keepFeatures, string title)
    {
        using var extractor = new FeatureExtractor(spec);
        int d = extractor.Dimension, classes = data.Classes.Count;
        using var gramSession = new GramSession(d);
        var kept = keepFeatures ? new float[checked(data.Count * d)] : null;
        GramAccumulator[]? accumulators = null;
        var order = Enumerable.Range(0, data.Count).OrderBy(i => foldOf[i]).ToArray(); // each batch holds one fold
        var sorted = data.Subset(order);
        var progress = new Progress(title, data.Count * (mirror ? 2L : 1L));
        var extractClock = new System.Diagnostics.Stopwatch();
        var gramClock = new System.Diagnostics.Stopwatch();

        for (int start = 0; start < sorted.Count;)
        {
            int fold = foldOf[order[start]];
            int count = 1;
            while (count < batchSize && start + count < sorted.Count && foldOf[order[start + count]] == fold) count++;
            var labels = sorted.Labels.AsSpan(start, count);
            foreach (bool flipped in mirror ? new[] { false, true } : [false])
            {
                extractClock.Start();
                var features = extractor.Extract(sorted, start, count, normalisation, flipped);
                extractClock.Stop();
                if (accumulators is null)
                {
                    var shift = RoughMean(features, count, d); // one shift for all folds, so they can be added up
                    accumulators = Enumerable.Range(0, folds).Select(_ => new GramAccumulator(d, classes, shift)).ToArray();
                }
                gramClock.Start();
                var gram = gramSession.Gram(features, count, accumulators[fold].Shift);
                accumulators[fold].Add(features, count, labels, gram);
                gramClock.Stop();
                if (kept is not null && !flipped)
                    for (int i = 0; i < count; i++)
                        features.AsSpan(i * d, d).CopyTo(kept.AsSpan(order[start + i] * d, d));
                progress.Advance(count);
            }
            start += count;
        }
        progress.Finish();
        return new Result(accumulators!, kept, extractClock.Elapsed.TotalSeconds, gramClock.Elapsed.TotalSeconds);
    }

    private static float[] RoughMean(float[] features, int rows, int d)
    {
        var mean = new float[d];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < d; j++) mean[j] += features[r * d + j] / rows;
        return mean;
    }
}
