using System.Diagnostics;
using RffService.TestSupport;

namespace RffService.Training.Tests;

/// <summary>The PyTorch package's own tests (python/tests, pytest), run with Debian's python3-torch.</summary>
[Trait("Category", "Slow")]
[Trait("Needs", "python3-torch")]
public class PythonPackageTests
{
    [Fact]
    public async Task The_pytorch_package_passes_its_tests()
    {
        string root = FashionMnistFixture.FindRepositoryRoot();
        var start = new ProcessStartInfo("/usr/bin/python3", ["-m", "pytest", "-q", "-p", "no:cacheprovider", Path.Combine(root, "python", "tests")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root,
        };
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"pytest failed:\n{output}\n{await errors}");
        Assert.Contains(" passed", output);
    }
}
