using System.CommandLine;
using System.Globalization;
using RffService.Training.Data;
using RffService.Training.Features;
using RffService.Training.Solvers;

namespace RffService.Training.Commands;

/// <summary>k-fold cross-validation on the training split to choose the ridge penalty and the sigmas.</summary>
public static class CrossValidateCommand
{
    public static Command Create()
    {
        var command = new Command("cross-validate",
            "k-fold cross-validation of ridge penalties and sigmas on the training split: for every candidate sigma combination, one pass " +
            "extracts features of the training images (never the test set) and accumulates X'X per fold; each ridge penalty is then fitted " +
            "on k-1 folds and scored on the held-out fold.");
        var data = Opt.Data();
        var folds = Opt.Of("--folds", 5, "number of folds");
        var subsetOption = Opt.Of("--subset", 0, "use the first n images of a seeded shuffle of the training split (0 = all 60,000)");
        var lambdasOption = Opt.Doubles("--lambdas", [1e-4, 1e-3, 1e-2, 1e-1], "ridge penalties, on standardised features");
        var sigmaGrid = Opt.Of("--sigma-grid", "", "candidate sigmas per layer, e.g. \"4,5;6,8\" tries 4 combinations (default: --sigmas)");
        var reportOption = Opt.Of("--report", "", "also write the results as JSON (train-classifier --cv-report puts them in the model card)");
        var mirrorOption = Opt.Flag("--mirror", "add left-right mirrored copies of the training folds");
        var logistic = Opt.Of("--logistic", 0, "also score n L-BFGS steps of multinomial-logistic refinement after each ridge fit");
        var penaltiesOption = Opt.Doubles("--logistic-penalties", [1e-4], "L2 penalties of the refinement, on standardised features");
        foreach (var option in new Option[] { data, folds, subsetOption, lambdasOption, sigmaGrid, reportOption, mirrorOption, logistic, penaltiesOption })
            command.Options.Add(option);
        var architectureOptions = new RffCnnOptions(command);
        command.SetAction(parse => Run(architectureOptions.Read(parse), parse.GetValue(data)!, parse.GetValue(folds), parse.GetValue(subsetOption),
            parse.GetValue(lambdasOption)!, parse.GetValue(sigmaGrid)!, parse.GetValue(reportOption)!, parse.GetValue(mirrorOption),
            parse.GetValue(logistic), parse.GetValue(penaltiesOption)!));
        return command;
    }

    private static int Run(RffCnnArchitecture architecture, string dataRoot, int k, int subsetSize, double[] lambdas, string sigmaGrid, string reportPath,
        bool mirror, int logisticSteps, double[] penalties)
    {
        var train = ImageDataset.Load(DataPaths.FashionTrain(dataRoot));
        int subset = subsetSize > 0 ? Math.Min(subsetSize, train.Count) : train.Count;
        if (subset < train.Count)
        {
            var order = Enumerable.Range(0, train.Count).ToArray();
            new Random(12345).Shuffle(order);
            train = train.Subset(order[..subset]);
        }
        var foldOf = Folds.Assign(train.Count, k, seed: 7);

        Console.WriteLine($"{k}-fold cross-validation on {train.Count} training images{(mirror ? " (+ mirrored copies)" : "")}");
        var results = new List<(string Sigmas, string Readout, double Lambda, double Mean, double Std)>();
        foreach (var sigmas in SigmaCandidates(sigmaGrid, architecture))
        {
            var candidate = architecture.WithSigmas(sigmas);
            var spec = candidate.Draw(train.Classes.Count);
            Console.WriteLine($"{candidate.Describe()}  ({spec.Features} features)");
            var pass = new FeaturePass(spec, FashionMnist.Normalisation)
                .Run(train, foldOf, k, mirror, keepFeatures: true, "  features");
            var total = pass.Folds[0].Clone();
            for (int f = 1; f < k; f++) total.Add(pass.Folds[f]);
            foreach (double lambda in lambdas)
            {
                var readouts = new RidgeReadout[k];
                for (int f = 0; f < k; f++)
                {
                    var stats = total.Clone();
                    stats.Add(pass.Folds[f], sign: -1);
                    readouts[f] = RidgeReadout.Fit(stats, lambda);
                }
                Report(results, string.Join(",", sigmas), $"lambda {lambda:G3}", lambda,
                    Enumerable.Range(0, k).Select(f => Accuracy(readouts[f], pass.Features!, train, foldOf, f)).ToArray());
                if (logisticSteps <= 0) continue;
                foreach (double penalty in penalties)
                {
                    var refined = Enumerable.Range(0, k).Select(f =>
                    {
                        var (features, labels) = TrainingRows(pass.Features!, train, foldOf, f, spec.Features);
                        var readout = LogisticRefiner.Refine(readouts[f], features, labels, penalty, logisticSteps);
                        return Accuracy(readout, pass.Features!, train, foldOf, f);
                    }).ToArray();
                    Report(results, string.Join(",", sigmas), $"lambda {lambda:G3} + logistic({logisticSteps}, {penalty:G3})", lambda, refined);
                }
            }
        }
        var best = results.MaxBy(r => r.Mean);
        Console.WriteLine($"best: sigmas {best.Sigmas}, {best.Readout}: {best.Mean:P2} ± {best.Std:P2}");
        if (reportPath.Length > 0)
        {
            var report = new
            {
                folds = k,
                images = train.Count,
                mirror,
                architecture = architecture.Describe(),
                candidates = results.Select(r => new { sigmas = r.Sigmas, readout = r.Readout, mean = Math.Round(r.Mean, 4), std = Math.Round(r.Std, 4) }),
                best = new { sigmas = best.Sigmas, readout = best.Readout, mean = Math.Round(best.Mean, 4), std = Math.Round(best.Std, 4) },
            };
            File.WriteAllText(reportPath, System.Text.Json.JsonSerializer.Serialize(report, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"report written to {reportPath}");
        }
        return 0;
    }

    private static void Report(List<(string, string, double, double, double)> results, string sigmas, string readout, double lambda, double[] accuracies)
    {
        int k = accuracies.Length;
        double mean = accuracies.Average(), std = Math.Sqrt(accuracies.Select(a => (a - mean) * (a - mean)).Sum() / (k - 1));
        results.Add((sigmas, readout, lambda, mean, std));
        Console.WriteLine($"  sigmas {sigmas,-10} {readout,-38} accuracy {mean:P2} ± {std:P2}   folds: {string.Join(" ", accuracies.Select(a => a.ToString("P2")))}");
    }

    /// <summary>The kept features and labels of every image outside fold <paramref name="fold"/>.</summary>
    private static (float[] Features, byte[] Labels) TrainingRows(float[] features, ImageDataset data, int[] foldOf, int fold, int d)
    {
        var rows = Enumerable.Range(0, data.Count).Where(i => foldOf[i] != fold).ToArray();
        var selected = new float[rows.Length * d];
        for (int r = 0; r < rows.Length; r++) features.AsSpan(rows[r] * d, d).CopyTo(selected.AsSpan(r * d, d));
        return (selected, rows.Select(i => data.Labels[i]).ToArray());
    }

    private static IEnumerable<float[]> SigmaCandidates(string grid, RffCnnArchitecture architecture)
    {
        if (string.IsNullOrWhiteSpace(grid)) return [architecture.Sigmas];
        var perLayer = grid.Split(';').Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        if (perLayer.Length != architecture.Widths.Length) throw new ArgumentException("--sigma-grid needs one list per layer, separated by ';'.");
        IEnumerable<float[]> combos = [[]];
        foreach (var options in perLayer)
            combos = combos.SelectMany(prefix => options.Select(o => (float[])[.. prefix, o])).ToList();
        return combos;
    }

    private static double Accuracy(RidgeReadout readout, float[] features, ImageDataset data, int[] foldOf, int fold)
    {
        int d = readout.Dimension, correct = 0, total = 0;
        for (int i = 0; i < data.Count; i++)
        {
            if (foldOf[i] != fold) continue;
            var logits = readout.Predict(features.AsSpan(i * d, d), 1);
            if (RidgeReadout.ArgMax(logits) == data.Labels[i]) correct++;
            total++;
        }
        return (double)correct / total;
    }
}
