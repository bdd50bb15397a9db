using System.Diagnostics;
using RffService.Onnx;
using RffService.Training.Commands;
using RffService.Training.Data;
using RffService.Training.Features;
using RffService.Training.Solvers;

namespace RffService.Training;

/// <summary>A trained classifier and where the time went.</summary>
public sealed record TrainedClassifier(RffCnnSpec Spec, double ExtractSeconds, double GramSeconds, double SolveSeconds, double TotalSeconds);

/// <summary>
/// Trains an RFF-CNN classifier: the RFF layers are drawn from the seed and stay fixed; one streamed pass accumulates
/// the readout statistics; ridge regression (Cholesky) fits the linear readout.
/// </summary>
public static class ClassifierTrainer
{
    public static TrainedClassifier Train(ImageDataset train, RffCnnOptions architecture, Normalisation normalisation, double lambda, bool mirror)
    {
        var clock = Stopwatch.StartNew();
        var spec = architecture.Draw(train.Classes.Count, train.Height, train.Width);
        var pass = new FeaturePass(spec, normalisation).Run(train, new int[train.Count], 1, mirror, keepFeatures: false, "features + X'X");
        var solveClock = Stopwatch.StartNew();
        var readout = RidgeReadout.Fit(pass.Folds[0], lambda);
        return new TrainedClassifier(spec with { ReadoutWeights = readout.Weights, ReadoutBias = readout.Bias },
            pass.ExtractSeconds, pass.GramSeconds, solveClock.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds);
    }
}
