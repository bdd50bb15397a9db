using System.Diagnostics;
using RffService.Onnx;
using RffService.Training.Data;
using RffService.Training.Solvers;

using RffService.Training.Common;
namespace RffService.Training.Features;

/// <summary>A trained classifier and where the time went.</summary>
public sealed record TrainedClassifier(RffCnnSpec Spec, double ExtractSeconds, double GramSeconds, double SolveSeconds, double RefineSeconds, double TotalSeconds);

/// <summary>
/// Trains an RFF-CNN classifier: the RFF layers are drawn from the seed and stay fixed; one streamed pass accumulates
/// the readout statistics; ridge regression (Cholesky) fits the linear readout.
/// </summary>
public static class ClassifierTrainer
{
    /// <param name="logisticSteps">L-BFGS steps of logistic refinement after the ridge fit (0 = none; keeps the features in memory).</param>
    /// <param name="logisticPenalty">L2 penalty of the refinement, on standardised features.</param>
    public static TrainedClassifier Train(ImageDataset train, RffCnnArchitecture architecture, Normalisation normalisation, double lambda, bool mirror,
        int logisticSteps = 0, double logisticPenalty = 1e-4)
    {
        var clock = Stopwatch.StartNew();
        var spec = architecture.Draw(train.Classes.Count, train.Height, train.Width);
        var pass = new FeaturePass(spec, normalisation).Run(train, new int[train.Count], 1, mirror, keepFeatures: logisticSteps > 0, "features + X'X");
        var solveClock = Stopwatch.StartNew();
        var readout = RidgeReadout.Fit(pass.Folds[0], lambda);
        double solveSeconds = solveClock.Elapsed.TotalSeconds;
        var refineClock = Stopwatch.StartNew();
        if (logisticSteps > 0)
        {
            var progress = new Progress("logistic refinement", logisticSteps);
            readout = LogisticRefiner.Refine(readout, pass.Features!, train.Labels, logisticPenalty, logisticSteps, (_, _) => progress.Advance());
            progress.Finish();
        }
        return new TrainedClassifier(spec with { ReadoutWeights = readout.Weights, ReadoutBias = readout.Bias },
            pass.ExtractSeconds, pass.GramSeconds, solveSeconds, refineClock.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds);
    }
}
