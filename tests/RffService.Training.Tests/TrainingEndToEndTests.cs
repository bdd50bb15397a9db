using System.Text.Json;
using RffService.Onnx;
using RffService.TestSupport;
using RffService.Training.Data;
using RffService.Training.Evaluation;
using RffService.Training.Features;
using SkiaSharp;

using RffService.Training.Common;
namespace RffService.Training.Tests;

public class TrainingEndToEndTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "rff-training-" + Guid.NewGuid().ToString("N"));

    private static RffCnnArchitecture SmallArchitecture(int seed = 3) =>
        new([8, 32], [5, 3], [2, 2], [4f, 4f], PoolMode.Average, Grid: 2, Seed: seed);

    [Fact]
    public void Train_export_and_evaluate_through_the_service_code_path()
    {
        var train = SyntheticData.Make(600, seed: 1);
        var test = SyntheticData.Make(150, seed: 2);
        var normalisation = new Normalisation(0.2f, 0.3f);

        var trained = ClassifierTrainer.Train(train, SmallArchitecture(), normalisation, lambda: 1e-3, mirror: true);
        var exporter = new ModelExporter(_root, "synthetic", 1);
        exporter.Export(trained.Spec, train.Classes, normalisation, SmallArchitecture(), 1e-3, mirror: true);
        var report = ModelEvaluator.InProcess(_root, "synthetic", test);

        Assert.True(report.Accuracy >= 0.95, report.Format());
        Assert.Equal(150, report.Total);
        Assert.Equal(150, report.Confusion.Sum(row => row.Sum()));

        // The exported model is an RFF-CNN with the custom op, and its config matches the training normalisation.
        var layers = new ModelInspector(OnnxModelFile.Load(Path.Combine(_root, "synthetic", "1", "model.onnx"))).FindRffLayers();
        Assert.Equal([8, 32], layers.Select(l => l.OutChannels));
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_root, "synthetic", "config.json")));
        Assert.Equal(0.2f, config.RootElement.GetProperty("input").GetProperty("mean")[0].GetSingle());
        Assert.True(config.RootElement.GetProperty("trained").GetBoolean());
    }

    [Fact]
    public void The_same_seed_and_options_give_the_same_weights()
    {
        var train = SyntheticData.Make(90, seed: 4);
        var normalisation = new Normalisation(0.2f, 0.3f);
        var first = ClassifierTrainer.Train(train, SmallArchitecture(seed: 9), normalisation, 1e-3, mirror: false).Spec;
        var second = ClassifierTrainer.Train(train, SmallArchitecture(seed: 9), normalisation, 1e-3, mirror: false).Spec;
        var other = ClassifierTrainer.Train(train, SmallArchitecture(seed: 10), normalisation, 1e-3, mirror: false).Spec;

        Assert.Equal(OnnxModelFile.ToBytes(RffCnnBuilder.Build(first)), OnnxModelFile.ToBytes(RffCnnBuilder.Build(second)));
        Assert.NotEqual(first.Layers[0].Weights, other.Layers[0].Weights);
    }

    [Fact]
    public void Image_folder_data_set_reads_classes_from_sub_folders_and_resizes()
    {
        foreach (var (name, colour) in new[] { ("cats", SKColors.White), ("dogs", SKColors.Black) })
        {
            Directory.CreateDirectory(Path.Combine(_root, "photos", name));
            for (int i = 0; i < 3; i++)
            {
                using var bitmap = new SKBitmap(40 + i * 10, 30);
                bitmap.Erase(colour);
                File.WriteAllBytes(Path.Combine(_root, "photos", name, $"{i}.png"), TestImages.Encode(bitmap, SKEncodedImageFormat.Png));
            }
        }
        File.WriteAllText(Path.Combine(_root, "photos", "cats", "notes.txt"), "not an image");
        File.WriteAllBytes(Path.Combine(_root, "photos", "dogs", "broken.png"), [1, 2, 3]);

        var data = ImageFolderDataset.Load(Path.Combine(_root, "photos"), side: 12);

        Assert.Equal(["cats", "dogs"], data.Classes);
        Assert.Equal([0, 0, 0, 1, 1, 1], data.Labels);
        Assert.Equal((12, 12), (data.Height, data.Width));
        Assert.All(data.Image(0).ToArray(), p => Assert.Equal(255, p));
        Assert.All(data.Image(5).ToArray(), p => Assert.Equal(0, p));
    }

    [Fact]
    public void Data_set_cache_round_trips()
    {
        var data = SyntheticData.Make(10, seed: 3);
        string path = Path.Combine(_root, "cache", "set.bin");
        data.Save(path);
        var loaded = ImageDataset.Load(path);
        Assert.Equal(data.Labels, loaded.Labels);
        Assert.Equal(data.Pixels, loaded.Pixels);
        Assert.Equal(data.Classes, loaded.Classes);
        Assert.Throws<FileNotFoundException>(() => ImageDataset.Load(Path.Combine(_root, "missing.bin")));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
