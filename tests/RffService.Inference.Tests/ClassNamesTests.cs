using RffService.Inference.Common;
using RffService.Vision;

namespace RffService.Inference.Tests;

public class ClassNamesTests
{
    private static readonly string[] Labels = ["Coat", "shirt", "Shirt", "7"];

    [Theory]
    [InlineData("coat", 0)]
    [InlineData(" SHIRT ", 1)] // the first of duplicate labels, whatever the case
    [InlineData("7", 3)]      // a label wins over an index
    [InlineData("2", 2)]
    public void A_class_is_named_by_label_or_index(string name, int expected) =>
        Assert.Equal(expected, ClassNames.IndexOf(name, Labels, "target"));

    [Theory]
    [InlineData("Bag")]
    [InlineData("4")]
    [InlineData("-1")]
    public void Anything_else_is_refused_with_the_labels(string name)
    {
        var error = Assert.Throws<InferenceException>(() => ClassNames.IndexOf(name, Labels, "class"));
        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Contains("Coat, shirt, Shirt, 7", error.Message);
        Assert.StartsWith("class ", error.Message);
    }
}
