using System.CommandLine;
using System.Text.Json;
using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;

namespace RffService.Training.Commands;

/// <summary>Writes small held-out images to try the service with: single items of chosen classes, and detection canvases.</summary>
public static class SamplesCommand
{
    public static Command Create()
    {
        var command = new Command("samples",
            "Writes held-out test images as PNG to try the service: for each class asked for, the first test-split item of that class " +
            "(28x28 gray, <out>/<label>.png, e.g. shirt.png), and test canvases for the detector (<out>/canvas-<i>.png with " +
            "<out>/canvas-<i>.json: each object's label and box x_min, y_min, x_max, y_max in pixels). Test-split items only.");
        var data = Opt.Data();
        var output = Opt.Of("--out", "samples", "output folder");
        var classes = Opt.Of("--classes", "Shirt,Trouser,Sneaker,Bag,Ankle boot,Dress", "comma-separated labels");
        var canvases = Opt.Of("--canvases", 3, "detection canvases");
        foreach (var option in new Option[] { data, output, classes, canvases }) command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(data)!, parse.GetValue(output)!, parse.GetValue(classes)!.Split(','), parse.GetValue(canvases)));
        return command;
    }

    /// <summary>The file name of a label's sample: lower case, letters and digits, words joined by '-' ("T-shirt/top" -> "t-shirt-top").</summary>
    public static string FileName(string label) =>
        string.Join('-', new string(label.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : ' ').ToArray())
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)) + ".png";

    private static int Run(string dataRoot, string output, string[] classes, int canvasCount)
    {
        var test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
        Directory.CreateDirectory(output);
        foreach (var label in classes)
        {
            int classIndex = test.Classes.ToList().FindIndex(c => string.Equals(c, label.Trim(), StringComparison.OrdinalIgnoreCase));
            if (classIndex < 0) throw new ArgumentException($"'{label}' is not a Fashion-MNIST label ({string.Join(", ", test.Classes)}).");
            int index = Array.IndexOf(test.Labels, (byte)classIndex);
            string path = Path.Combine(output, FileName(test.Classes[classIndex]));
            File.WriteAllBytes(path, TestImageEncoder.Png(test, index));
            Console.WriteLine($"{path}: test image {index} ({test.Classes[classIndex]})");
        }
        var generator = new CanvasGenerator(test, 128, CanvasSeeds.Test);
        for (int i = 0; i < canvasCount; i++)
        {
            var canvas = generator.Make(i);
            string path = Path.Combine(output, $"canvas-{i}.png");
            File.WriteAllBytes(path, DetectorEvaluator.Png(canvas));
            var truth = canvas.Objects.Select(o => new { label = test.Classes[o.Label], box = new[] { o.Box.XMin, o.Box.YMin, o.Box.XMax, o.Box.YMax } });
            File.WriteAllText(Path.Combine(output, $"canvas-{i}.json"), JsonSerializer.Serialize(truth) + "\n");
            Console.WriteLine($"{path}: {string.Join(", ", canvas.Objects.Select(o => test.Classes[o.Label]))}");
        }
        return 0;
    }
}
