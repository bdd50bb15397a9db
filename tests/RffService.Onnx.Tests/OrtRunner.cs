using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;

namespace RffService.Onnx.Tests;

/// <summary>Runs a model through ONNX Runtime (CPU) and returns its first output.</summary>
internal static class OrtRunner
{
    public static (float[] Values, long[] Shape) Run(ModelProto model, string inputName, float[] input, long[] inputShape,
        string? outputName = null)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(OnnxModelFile.ToBytes(model), options);
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, inputShape);
        string output = outputName ?? session.OutputNames[0];
        using var results = session.Run(new RunOptions(), [inputName], [inputValue], [output]);
        var tensor = results[0];
        return (tensor.GetTensorDataAsSpan<float>().ToArray(), tensor.GetTensorTypeAndShape().Shape);
    }
}
