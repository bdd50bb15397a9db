using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Runtime;
using RffService.Onnx;

namespace RffService.Training.Solvers;

/// <summary>
/// Mean softmax cross-entropy of a linear model on fixed features, and its gradient, computed by ONNX Runtime:
/// loss = mean(-Σ y log softmax(Z W + b)), dW = Zᵀ (P - Y) / n, db = mean(P - Y).
/// The features stay pinned in one OrtValue across calls.
/// </summary>
public sealed class SoftmaxLossSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly OrtValue _features;
    private readonly OrtValue _targets;
    private readonly int _rows;

    public SoftmaxLossSession(float[] features, float[] oneHot, int rows, int dimension, int classes)
    {
        _rows = rows;
        var model = new GraphBuilder("softmax_loss")
            .Input("z", [rows, dimension]).Input("y", [rows, classes]).Input("w", [dimension, classes]).Input("b", [classes])
            .Output("loss", []).Output("grad_w", [dimension, classes]).Output("grad_b", [classes])
            .Initializer("n", [], [rows])
            .Node("MatMul", ["z", "w"], ["zw"]).Node("Add", ["zw", "b"], ["logits"])
            .Node("LogSoftmax", ["logits"], ["log_p"], attributes: Attributes.Int("axis", 1))
            .Node("Exp", ["log_p"], ["p"])
            .Node("Mul", ["y", "log_p"], ["y_log_p"])
            .Node("ReduceSum", ["y_log_p"], ["total"], attributes: Attributes.Int("keepdims", 0))
            .Node("Neg", ["total"], ["neg_total"]).Node("Div", ["neg_total", "n"], ["loss"])
            .Node("Sub", ["p", "y"], ["residual"])
            .Node("Transpose", ["z"], ["z_t"], attributes: Attributes.Ints("perm", 1, 0))
            .Node("MatMul", ["z_t", "residual"], ["zr"]).Node("Div", ["zr", "n"], ["grad_w"])
            .Node("ReduceMean", ["residual"], ["grad_b"], attributes: [Attributes.Ints("axes", 0L), Attributes.Int("keepdims", 0)])
            .Build();
        _session = new SessionFactory(SessionSettings.Cpu).Create(model).Session;
        _features = OrtValue.CreateTensorValueFromMemory(features, [rows, dimension]);
        _targets = OrtValue.CreateTensorValueFromMemory(oneHot, [rows, classes]);
    }

    public int Rows => _rows;

    public (double Loss, float[] GradW, float[] GradB) Evaluate(float[] w, float[] b)
    {
        using var wValue = OrtValue.CreateTensorValueFromMemory(w, [w.Length / b.Length, b.Length]);
        using var bValue = OrtValue.CreateTensorValueFromMemory(b, [b.Length]);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, ["z", "y", "w", "b"], [_features, _targets, wValue, bValue], ["loss", "grad_w", "grad_b"]);
        return (outputs[0].GetTensorDataAsSpan<float>()[0], outputs[1].GetTensorDataAsSpan<float>().ToArray(), outputs[2].GetTensorDataAsSpan<float>().ToArray());
    }

    public void Dispose()
    {
        _session.Dispose();
        _features.Dispose();
        _targets.Dispose();
    }
}
