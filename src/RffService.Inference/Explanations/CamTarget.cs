using RffService.Vision.Postprocessing;

namespace RffService.Inference.Explanations;

/// <summary>
/// What an explanation explains: a weighting T of the model's score output (the gradient is that of sum(T * scores)),
/// and the probability of the explained outcome given a run's scores (for faithfulness and Score-CAM).
/// </summary>
public abstract class CamTarget
{
    /// <summary>T for one image, shaped like the score output without its batch axis.</summary>
    public abstract float[] Weights(long[] scoreShape);

    /// <summary>The explained outcome's probability in one image's scores.</summary>
    public abstract float Probability(ReadOnlySpan<float> scores);

    /// <summary>The explained outcome's score (logit) in one image's scores.</summary>
    public abstract float Score(ReadOnlySpan<float> scores);
}

/// <summary>A classifier's class: its logit (or probability, for a model that outputs probabilities).</summary>
public sealed class ClassTarget(int classIndex, int classes, bool probabilities) : CamTarget
{
    public int ClassIndex => classIndex;

    public override float[] Weights(long[] scoreShape)
    {
        var weights = new float[scoreShape.Aggregate(1L, (a, b) => a * b)];
        weights[classIndex] = 1;
        return weights;
    }

    public override float Probability(ReadOnlySpan<float> scores)
    {
        if (probabilities) return scores[classIndex];
        var values = new float[classes];
        Softmax.Apply(scores[..classes], values);
        return values[classIndex];
    }

    public override float Score(ReadOnlySpan<float> scores) => scores[classIndex];
}

/// <summary>
/// One detection of an SSD: the class score at the default box it came from (as pytorch-grad-cam's
/// FasterRCNNBoxScoreTarget takes the score of the box's class). Scores are [priors, K + 1]; <paramref name="scoreColumn"/>
/// is the class's column (the background column skipped).
/// </summary>
public sealed class DetectionTarget(int prior, int scoreColumn, int columns, bool probabilities) : CamTarget
{
    public DetectionTarget(RffService.Vision.Detection.ScoreCell cell) : this(cell.Prior, cell.Column, cell.Columns, cell.Probabilities) { }

    public override float[] Weights(long[] scoreShape)
    {
        var weights = new float[scoreShape.Aggregate(1L, (a, b) => a * b)];
        weights[prior * columns + scoreColumn] = 1;
        return weights;
    }

    public override float Probability(ReadOnlySpan<float> scores)
    {
        var row = scores.Slice(prior * columns, columns);
        if (probabilities) return row[scoreColumn];
        var values = new float[columns];
        Softmax.Apply(row, values);
        return values[scoreColumn];
    }

    public override float Score(ReadOnlySpan<float> scores) => scores[prior * columns + scoreColumn];
}
