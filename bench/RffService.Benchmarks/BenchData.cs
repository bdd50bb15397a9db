using RffService.Training.Data;
using RffService.Training.Detection;
using RffService.Training.Evaluation;

namespace RffService.Benchmarks;

/// <summary>Inputs the benchmarks share: held-out Fashion-MNIST images and detection canvases, encoded as a client sends them.</summary>
public static class BenchData
{
    public static string RepositoryRoot { get; } = FindRoot();
    public static string Models => Path.Combine(RepositoryRoot, "models");

    public static ImageDataset FashionTest() => ImageDataset.Load(DataPaths.FashionTest(Path.Combine(RepositoryRoot, DataPaths.DefaultRoot)));

    public static List<byte[]> FashionPngs(int count)
    {
        var test = FashionTest();
        return Enumerable.Range(0, count).Select(i => TestImageEncoder.Png(test, i)).ToList();
    }

    public static List<byte[]> CanvasPngs(int count)
    {
        var generator = new CanvasGenerator(FashionTest(), 128, Training.Data.CanvasSeeds.Test);
        return Enumerable.Range(0, count).Select(i => DetectorEvaluator.Png(generator.Make(i))).ToList();
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RffService.sln"))) return dir.FullName;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RffService.sln"))) return dir.FullName;
        throw new InvalidOperationException("Run the benchmarks from inside the repository (RffService.sln not found).");
    }
}
