using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using RffService.Onnx;
using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;
using RffService.Training.Data;

using RffService.Training.Common;

namespace RffService.Training.Commands;

/// <summary>
/// Temperature scaling: ridge regression on one-hot targets gives logits near 0..1, whose softmax is nearly flat. One
/// scalar T, fitted on training images by minimising the negative log-likelihood, scales the readout (W, b) so the
/// probabilities mean something. The argmax, hence the accuracy, does not change.
/// </summary>
public static class CalibrateCommand
{
    public static Command Create()
    {
        var command = new Command("calibrate",
            "Runs the exported model on training images (never the test set), finds the temperature T that minimises the mean negative " +
            "log-likelihood of softmax(T * logits), multiplies the readout's weights and bias by T in models/<name>/<version>/model.onnx, " +
            "and records T in the model card.");
        var models = Opt.Models();
        var name = Opt.Of("--name", "rff-cnn-fashion", "model");
        var version = Opt.Version();
        var data = Opt.Data();
        var count = Opt.Of("--count", 10000, "training images used");
        foreach (var option in new Option[] { models, name, version, data, count }) command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(version), parse.GetValue(data)!, parse.GetValue(count)));
        return command;
    }

    private static int Run(string models, string name, int version, string dataRoot, int count)
    {
        string directory = Path.Combine(models, name, version.ToString());
        string modelPath = Path.Combine(directory, "model.onnx");
        var model = OnnxModelFile.Load(modelPath);
        var train = ImageDataset.Load(DataPaths.FashionTrain(dataRoot));
        var order = Enumerable.Range(0, train.Count).ToArray();
        new Random(99).Shuffle(order);
        var sample = train.Subset(order[..Math.Min(count, train.Count)]);

        var logits = Logits(model, sample);
        int classes = logits.Length / sample.Count;
        double Nll(double t)
        {
            double total = 0;
            for (int i = 0; i < sample.Count; i++)
            {
                var row = logits.AsSpan(i * classes, classes);
                double max = double.MinValue;
                foreach (float v in row) max = Math.Max(max, t * v);
                double sum = 0;
                foreach (float v in row) sum += Math.Exp(t * v - max);
                total -= t * row[sample.Labels[i]] - max - Math.Log(sum);
            }
            return total / sample.Count;
        }
        double temperature = GoldenSection(Nll, 0.01, 1000);
        Console.WriteLine($"temperature {temperature:F3}: mean NLL {Nll(1):F4} -> {Nll(temperature):F4} on {sample.Count} training images");

        var gemm = model.Graph.Node.Last(n => n.OpType == "Gemm");
        foreach (var input in gemm.Input.Skip(1))
        {
            var tensor = model.Graph.Initializer.Single(t => t.Name == input);
            var scaled = Tensors.ToFloats(tensor).Select(v => (float)(v * temperature)).ToArray();
            var replacement = Tensors.FromFloats(input, tensor.Dims.ToArray(), scaled);
            tensor.RawData = replacement.RawData;
            tensor.FloatData.Clear();
        }
        // Calibrating twice multiplies the readout twice: record the cumulative factor.
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == "rff.temperature");
        if (entry is null) model.MetadataProps.Add(new StringStringEntryProto { Key = "rff.temperature", Value = temperature.ToString("R") });
        else entry.Value = (double.Parse(entry.Value, System.Globalization.CultureInfo.InvariantCulture) * temperature).ToString("R");
        OnnxModelFile.Save(model, modelPath);

        string cardPath = Path.Combine(directory, "model-card.json");
        if (File.Exists(cardPath))
        {
            var card = JsonNode.Parse(File.ReadAllText(cardPath))!.AsObject();
            card["calibration"] = new JsonObject
            {
                ["temperature"] = Math.Round(temperature, 4),
                ["trainingImages"] = sample.Count,
                ["meanNllBefore"] = Math.Round(Nll(1), 4),
                ["meanNllAfter"] = Math.Round(Nll(temperature), 4),
            };
            File.WriteAllText(cardPath, card.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            File.AppendAllText(Path.Combine(directory, "model-card.md"),
                $"\nCalibration: readout scaled by temperature {temperature:F3} (fitted on {sample.Count} training images; mean NLL {Nll(1):F4} -> {Nll(temperature):F4}). Accuracy is unchanged.\n");
        }
        Console.WriteLine($"wrote {modelPath}");
        return 0;
    }

    private static float[] Logits(ModelProto model, ImageDataset data)
    {
        using var ort = new SessionFactory(SessionSettings.Cpu).Create(model);
        var session = ort.Session;
        var all = new List<float>();
        var progress = new Progress("logits", data.Count);
        for (int start = 0; start < data.Count; start += 500)
        {
            int count = Math.Min(500, data.Count - start);
            var input = new float[count * data.ImageSize];
            for (int i = 0; i < count; i++)
                FashionMnist.Normalisation.Apply(data.Image(start + i), input.AsSpan(i * data.ImageSize, data.ImageSize));
            using var value = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(input, [count, 1, data.Height, data.Width]);
            using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
            using var outputs = session.Run(runOptions, [session.InputNames[0]], [value], [session.OutputNames[0]]);
            all.AddRange(outputs[0].GetTensorDataAsSpan<float>().ToArray());
            progress.Advance(count);
        }
        return all.ToArray();
    }

    /// <summary>Minimum of a unimodal function on [a, b], searched on a log scale.</summary>
    private static double GoldenSection(Func<double, double> f, double a, double b)
    {
        double lo = Math.Log(a), hi = Math.Log(b), ratio = (Math.Sqrt(5) - 1) / 2;
        for (int i = 0; i < 80; i++)
        {
            double x1 = hi - ratio * (hi - lo), x2 = lo + ratio * (hi - lo);
            if (f(Math.Exp(x1)) < f(Math.Exp(x2))) hi = x2; else lo = x1;
        }
        return Math.Exp((lo + hi) / 2);
    }
}
