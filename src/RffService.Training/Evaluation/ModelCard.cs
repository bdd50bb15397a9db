using System.Text.Json;
using System.Text;

namespace RffService.Training.Evaluation;

/// <summary>What a trained model is, how it was made and how well it does (written as model-card.json and .md).</summary>
public sealed record ModelCard(
    string Name,
    int Version,
    string Data,
    string Architecture,
    int Features,
    IReadOnlyDictionary<string, object> Hyperparameters,
    IReadOnlyDictionary<string, int> Seeds,
    JsonElement? CrossValidation,
    double? TestAccuracy,
    IReadOnlyDictionary<string, double>? PerClassAccuracy,
    int[][]? ConfusionMatrix,
    double TrainingSeconds,
    string Machine)
{
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"# {Name} (version {Version})").AppendLine();
        md.AppendLine($"**Test accuracy: {(TestAccuracy is { } a ? a.ToString("P2") : "not measured")}** on the 10,000 held-out Fashion-MNIST test images (through the service's code path: PNG -> decode -> ONNX Runtime).").AppendLine();
        md.AppendLine($"- Data: {Data}");
        md.AppendLine($"- Architecture: {Architecture} ({Features} readout features)");
        md.AppendLine($"- Hyperparameters: {JsonSerializer.Serialize(Hyperparameters)}");
        md.AppendLine($"- Seeds: {JsonSerializer.Serialize(Seeds)}");
        md.AppendLine($"- Training wall time: {TrainingSeconds:F0} s on {Machine}");
        if (PerClassAccuracy is not null)
        {
            md.AppendLine().AppendLine("| class | accuracy |").AppendLine("|---|---|");
            foreach (var (label, accuracy) in PerClassAccuracy) md.AppendLine($"| {label} | {accuracy:P1} |");
        }
        if (ConfusionMatrix is not null)
        {
            md.AppendLine().AppendLine("Confusion matrix (rows: true class, columns: predicted):").AppendLine().AppendLine("```");
            foreach (var row in ConfusionMatrix) md.AppendLine(string.Concat(row.Select(v => $"{v,6}")));
            md.AppendLine("```");
        }
        if (CrossValidation is { } cv)
            md.AppendLine().AppendLine("Cross-validation (training split only):").AppendLine().AppendLine("```json").AppendLine(cv.ToString()).AppendLine("```");
        return md.ToString();
    }
}
