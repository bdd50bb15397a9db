using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using RffService.Onnx;
using RffService.Onnx.Runtime;

namespace RffService.Benchmarks;

/// <summary>
/// The machine's practical float32 peak: ONNX Runtime's own dense 1024x1024 MatMul on every core (its best-tuned
/// kernel; 2 operations per multiply-add). A hand-written FMA loop in C# was tried as a theoretical peak and measured
/// below this (the JIT's code for it is latency-bound), so it would overstate the share a model reaches.
/// </summary>
public static class MachinePeak
{
    public static double OrtMatMulGflops(int size = 1024, int runs = 20)
    {
        var weights = new float[size * size];
        for (int i = 0; i < weights.Length; i++) weights[i] = (i % 7) * 0.01f;
        var model = new GraphBuilder("matmul").Input("a", [size, size]).Output("c", [size, size])
            .Initializer("b", [size, size], weights)
            .Node("MatMul", ["a", "b"], ["c"]).Build();
        using var session = new SessionFactory(SessionSettings.Cpu).Create(model);
        using var input = OrtValue.CreateTensorValueFromMemory(weights, [size, size]);
        using var options = new RunOptions();
        session.Session.Run(options, ["a"], [input], ["c"]).Dispose(); // warm-up
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < runs; i++) session.Session.Run(options, ["a"], [input], ["c"]).Dispose();
        return 2.0 * size * size * size * runs / clock.Elapsed.TotalSeconds / 1e9;
    }
}
