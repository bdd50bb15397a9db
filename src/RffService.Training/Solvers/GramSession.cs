using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Runtime;
using RffService.Onnx;

namespace RffService.Training.Solvers;

/// <summary>
/// Computes <c>(F - shift)ᵀ (F - shift)</c> for a batch of features with ONNX Runtime's multi-threaded GEMM
/// (the expensive part of streaming XᵀX: B·D² multiply-adds per batch).
/// </summary>
public sealed class GramSession : IDisposable
{
    private readonly InferenceSession _session;

    public GramSession(int dimension, int threads = 0)
    {
        var model = new GraphBuilder("gram")
            .Input("features", [null, dimension])
            .Input("shift", [dimension])
            .Output("gram", [dimension, dimension])
            .Node("Sub", ["features", "shift"], ["centred"])
            .Node("Transpose", ["centred"], ["centred_t"], attributes: Attributes.Ints("perm", 1, 0))
            .Node("MatMul", ["centred_t", "centred"], ["gram"])
            .Build();
        _session = new SessionFactory(new SessionSettings(IntraOpThreads: threads)).Create(model).Session;
    }

    public float[] Gram(float[] features, int rows, float[] shift)
    {
        using var f = OrtValue.CreateTensorValueFromMemory(features, [rows, shift.Length]);
        using var s = OrtValue.CreateTensorValueFromMemory(shift, [shift.Length]);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, ["features", "shift"], [f, s], ["gram"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
