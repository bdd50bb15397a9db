using System.Globalization;
using RffService.Training.Data;
using RffService.Training.Features;
using RffService.Training.Solvers;

namespace RffService.Training.Commands;

/// <summary>k-fold cross-validation on the training split to choose the ridge penalty and the sigmas.</summary>
public sealed class CrossValidateCommand : ICommand
{
    public string Name => "cross-validate";
    public string Summary => "k-fold cross-validation of ridge penalties and sigmas on the training split";
    public string Help => $"""
        cross-validate: for every candidate sigma combination, one pass extracts features of the training images
        (never the test set) and accumulates X'X per fold; each ridge penalty is then fitted on k-1 folds and scored on
        the held-out fold. Prints mean and standard deviation of the accuracy per candidate.

          --data <dir>              data cache (default: data)
          --folds <k>               number of folds (default: 5)
          --subset <n>              use the first n images of a seeded shuffle of the training split (default: all 60000)
          --lambdas <a,b,..>        ridge penalties, on standardised features (default: 1e-4,1e-3,1e-2,1e-1)
          --sigma-grid <l1;l2;..>   candidate sigmas per layer, e.g. "4,5;6,8" tries 4 combinations (default: --sigmas)
          --mirror                  add left-right mirrored copies of the training folds
        {RffCnnOptions.Help}
        """;

    public int Execute(CommandLine options)
    {
        var architecture = RffCnnOptions.Parse(options);
        int k = options.Int("folds", 5);
        var lambdas = options.String("lambdas", "1e-4,1e-3,1e-2,1e-1").Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        bool mirror = options.String("mirror", "false") == "true";
        var train = ImageDataset.Load(DataPaths.FashionTrain(options.String("data", DataPaths.DefaultRoot)));
        int subset = Math.Min(options.Int("subset", train.Count), train.Count);
        if (subset < train.Count)
        {
            var order = Enumerable.Range(0, train.Count).ToArray();
            new Random(12345).Shuffle(order);
            train = train.Subset(order[..subset]);
        }
        var foldOf = Folds.Assign(train.Count, k, seed: 7);

        Console.WriteLine($"{k}-fold cross-validation on {train.Count} training images{(mirror ? " (+ mirrored copies)" : "")}");
        var results = new List<(string Sigmas, double Lambda, double Mean, double Std)>();
        foreach (var sigmas in SigmaCandidates(options.String("sigma-grid", ""), architecture))
        {
            var candidate = architecture.WithSigmas(sigmas);
            var spec = candidate.Draw(train.Classes.Count);
            Console.WriteLine($"{candidate.Describe()}  ({spec.Features} features)");
            var pass = new FeaturePass(spec, TrainClassifierCommand.FashionNormalisation)
                .Run(train, foldOf, k, mirror, keepFeatures: true, "  features");
            var total = pass.Folds[0].Clone();
            for (int f = 1; f < k; f++) total.Add(pass.Folds[f]);
            foreach (double lambda in lambdas)
            {
                var accuracies = new double[k];
                for (int f = 0; f < k; f++)
                {
                    var stats = total.Clone();
                    stats.Add(pass.Folds[f], sign: -1);
                    var readout = RidgeReadout.Fit(stats, lambda);
                    accuracies[f] = Accuracy(readout, pass.Features!, train, foldOf, f);
                }
                double mean = accuracies.Average(), std = Math.Sqrt(accuracies.Select(a => (a - mean) * (a - mean)).Sum() / (k - 1));
                results.Add((string.Join(",", sigmas), lambda, mean, std));
                Console.WriteLine($"  sigmas {string.Join(",", sigmas),-12} lambda {lambda,-8:G3} accuracy {mean:P2} ± {std:P2}   folds: {string.Join(" ", accuracies.Select(a => a.ToString("P2")))}");
            }
        }
        var best = results.MaxBy(r => r.Mean);
        Console.WriteLine($"best: sigmas {best.Sigmas}, lambda {best.Lambda:G3}: {best.Mean:P2} ± {best.Std:P2}");
        return 0;
    }

    private static IEnumerable<float[]> SigmaCandidates(string grid, RffCnnOptions architecture)
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
