namespace RffService.Training.Evaluation;

/// <summary>Accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted).</summary>
public sealed record EvaluationReport(int Total, int Correct, IReadOnlyList<string> Classes, int[][] Confusion, double Seconds)
{
    public double Accuracy => (double)Correct / Total;

    public double[] PerClassAccuracy => Confusion.Select((row, i) => row.Sum() == 0 ? 0 : (double)row[i] / row.Sum()).ToArray();

    public static EvaluationReport From(IReadOnlyList<string> classes, IReadOnlyList<int> truth, IReadOnlyList<int> predicted, double seconds)
    {
        var confusion = classes.Select(_ => new int[classes.Count]).ToArray();
        int correct = 0;
        for (int i = 0; i < truth.Count; i++)
        {
            confusion[truth[i]][predicted[i]]++;
            if (truth[i] == predicted[i]) correct++;
        }
        return new EvaluationReport(truth.Count, correct, classes, confusion, seconds);
    }

    public string Format()
    {
        var lines = new List<string> { $"accuracy {Accuracy:P2} ({Correct}/{Total}) in {Seconds:F1} s", "per class:" };
        var perClass = PerClassAccuracy;
        for (int i = 0; i < Classes.Count; i++) lines.Add($"  {Classes[i],-12} {perClass[i]:P1}");
        lines.Add("confusion (rows: true, columns: predicted):");
        lines.Add("  " + string.Concat(Enumerable.Range(0, Classes.Count).Select(i => $"{i,6}")));
        for (int i = 0; i < Classes.Count; i++)
            lines.Add($"{i,2}" + string.Concat(Confusion[i].Select(v => $"{v,6}")));
        return string.Join(Environment.NewLine, lines);
    }
}
