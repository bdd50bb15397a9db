namespace RffService.Inference.Explanations;

/// <summary>How faithful a map is to the model, for one image.</summary>
/// <param name="AverageDrop">max(0, Y - O) / Y: the relative drop in the target's probability when the input is masked by the map (lower is better).</param>
/// <param name="IncreaseInConfidence">1 when the masked input is more confident than the original (O > Y), else 0; averaged over images it is the rate.</param>
/// <param name="DeletionAuc">Area under the target probability as the most salient input pixels are deleted in steps (lower is better).</param>
public sealed record FaithfulnessScores(double AverageDrop, double IncreaseInConfidence, double DeletionAuc);

/// <summary>
/// Average drop and increase in confidence (Chattopadhyay et al., Grad-CAM++), and the deletion curve's AUC
/// (Petsiuk et al., RISE), computed together in one batched run of the model. Masking and deleting move pixels towards
/// the blank reference (the image's border colour) when the explanation has one, else towards 0 (the mean).
/// </summary>
public static class Faithfulness
{
    public const int DeletionSteps = 16;

    /// <param name="gamma">The map's contrast as shown (<see cref="Heatmap.WithGamma"/>): the mask is the map people see.</param>
    public static async Task<FaithfulnessScores> MeasureAsync(CamContext context, Heatmap map, float gamma, float originalProbability,
        CancellationToken cancellationToken)
    {
        int channels = context.InputShape[1], height = context.InputShape[2], width = context.InputShape[3];
        int plane = height * width, size = context.Input.Length;
        var saliency = map.Normalised().Resize(height, width).WithGamma(gamma);
        float Baseline(int at) => context.BlankInput?[at] ?? 0f;

        // Row 0: the input masked by the map; rows 1..S+1: the input with the top s/S most salient pixels deleted.
        var batch = new float[(DeletionSteps + 2) * size];
        for (int c = 0; c < channels; c++)
            for (int p = 0; p < plane; p++)
            {
                int at = c * plane + p;
                batch[at] = Baseline(at) + (context.Input[at] - Baseline(at)) * saliency.Values[p];
            }
        var order = Enumerable.Range(0, plane).OrderByDescending(p => saliency.Values[p]).ToArray();
        for (int step = 0; step <= DeletionSteps; step++)
        {
            var row = batch.AsSpan((step + 1) * size, size);
            context.Input.CopyTo(row);
            int deleted = (int)Math.Round((double)plane * step / DeletionSteps);
            for (int i = 0; i < deleted; i++)
                for (int c = 0; c < channels; c++) row[c * plane + order[i]] = Baseline(c * plane + order[i]);
        }
        var probabilities = await context.Runner.ProbabilitiesAsync(batch, DeletionSteps + 2, cancellationToken);

        float masked = probabilities[0];
        double drop = originalProbability > 0 ? Math.Max(0, originalProbability - masked) / originalProbability : 0;
        double auc = 0;
        for (int step = 0; step < DeletionSteps; step++)
            auc += (probabilities[step + 1] + probabilities[step + 2]) / 2.0 / DeletionSteps;
        return new FaithfulnessScores(Math.Round(drop, 4), masked > originalProbability ? 1 : 0, Math.Round(auc, 4));
    }
}
