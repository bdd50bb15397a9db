using Microsoft.ML.OnnxRuntime;
using RffService.Onnx;

namespace RffService.Benchmarks;

/// <summary>
/// What ONNX Runtime makes of each default model: the optimised graph it writes out (SessionOptions.OptimizedModelFilePath),
/// as a count of node types before and after, showing how the RffConv function is inlined and fused.
/// </summary>
public static class OptimizedGraph
{
    public static int Run()
    {
        foreach (var name in new[] { "rff-cnn-fashion", "rff-cnn-fashion-gap", "rff-ssd-fashion" })
        {
            string source = Path.Combine(BenchData.Models, name, "1", "model.onnx");
            string optimised = Path.Combine(Path.GetTempPath(), $"{name}.optimised.onnx");
            using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimised })
            using (new InferenceSession(source, options)) { }
            Console.WriteLine($"{name}:");
            Console.WriteLine($"  as exported: {Histogram(source)}");
            Console.WriteLine($"  optimised:   {Histogram(optimised)}");
        }
        return 0;
    }

    private static string Histogram(string path)
    {
        var model = OnnxModelFile.Parse(File.ReadAllBytes(path));
        return string.Join(", ", model.Graph.Node.GroupBy(n => (n.Domain is "" or "ai.onnx" ? "" : n.Domain + "::") + n.OpType)
            .OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}"));
    }
}
