using System.Text;
using RffService.Training.Data;

namespace RffService.Training.Tests;

/// <summary>The npm JSON conversion, on small JSON written in the test (CI never downloads the packages for unit tests).</summary>
public class FetchConversionTests
{
    private static byte[] FashionJson(int images, int label, int emptyRows = 0)
    {
        var rows = Enumerable.Range(0, images).Select(i => "[" + string.Join(",", Enumerable.Repeat((label * 10 + i) % 256, 784)) + "]")
            .Concat(Enumerable.Repeat("[]", emptyRows));
        return Encoding.UTF8.GetBytes("{\"data\":[" + string.Join(",", rows) + "]}");
    }

    // The package's files hold 7,000 images per class (6,000 train + 1,000 test); the tests use the same rule at a
    // hundredth of the size: 60 train + 10 test per class.
    [Fact]
    public void Fashion_class_files_split_first_images_train_last_images_test()
    {
        var files = Enumerable.Range(0, 10).ToDictionary(c => $"{c}.json", c => FashionJson(70, c, emptyRows: c == 0 ? 2 : 0));
        var (train, test, skipped) = NpmDataFetcher.ConvertFashion(files, trainPerClass: 60, testPerClass: 10);
        Assert.Equal((600, 100, 2), (train.Count, test.Count, skipped));
        Assert.Equal(NpmDataFetcher.FashionLabels, train.Classes);
        // The first test image of class 3 is that file's image 60.
        int firstOfClass3 = Array.IndexOf(test.Labels, (byte)3);
        Assert.Equal((3 * 10 + 60) % 256, test.Image(firstOfClass3)[0]);
        Assert.All(train.Labels.GroupBy(l => l), g => Assert.Equal(60, g.Count()));
        Assert.Equal((6000, 1000), (NpmDataFetcher.TrainPerClass, NpmDataFetcher.TestPerClass)); // the package's split
    }

    [Fact]
    public void A_class_file_with_the_wrong_count_is_refused()
    {
        var files = Enumerable.Range(0, 10).ToDictionary(c => $"{c}.json", c => FashionJson(c == 4 ? 10 : 70, c));
        var ex = Assert.Throws<InvalidDataException>(() => NpmDataFetcher.ConvertFashion(files, trainPerClass: 60, testPerClass: 10));
        Assert.Contains("class 4", ex.Message);
    }

    [Fact]
    public void Mnist_flat_arrays_become_28x28_bytes()
    {
        var files = Enumerable.Range(0, 10).ToDictionary(d => $"{d}.json",
            d => Encoding.UTF8.GetBytes("{\"data\":[" + string.Join(",", Enumerable.Repeat(d == 1 ? "1" : "0.5", 784 * 2)) + "]}"));
        var mnist = NpmDataFetcher.ConvertMnist(files);
        Assert.Equal(20, mnist.Count);
        Assert.Equal(255, mnist.Image(2)[0]);
        Assert.Equal(128, mnist.Image(0)[0]);
    }
}
