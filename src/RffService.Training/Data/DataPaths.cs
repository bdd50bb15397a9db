namespace RffService.Training.Data;

/// <summary>Where the git-ignored data cache lives.</summary>
public static class DataPaths
{
    public const string DefaultRoot = "data";

    public static string FashionTrain(string root) => Path.Combine(root, "fashion-mnist", "train.bin");
    public static string FashionTest(string root) => Path.Combine(root, "fashion-mnist", "test.bin");
    public static string Mnist(string root) => Path.Combine(root, "mnist", "all.bin");
}
