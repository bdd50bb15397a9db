using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace RffService.Inference.Runtime;

/// <summary>
/// One ONNX Runtime session for one model version, created once and used concurrently
/// (<see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/> is thread-safe).
/// </summary>
public sealed class ModelSession : IDisposable
{
    private readonly InferenceSession _session;

    public ModelSession(byte[] modelBytes, SessionOptions options, string provider, string? inputName, string? outputName)
    {
        _session = new InferenceSession(modelBytes, options);
        ExecutionProvider = provider;
        InputName = inputName ?? _session.InputNames[0];
        OutputName = outputName ?? _session.OutputNames[0];
        if (!_session.InputMetadata.ContainsKey(InputName))
            throw new InvalidDataException($"The model has no input named '{InputName}' (inputs: {string.Join(", ", _session.InputNames)}).");
        if (!_session.OutputMetadata.ContainsKey(OutputName))
            throw new InvalidDataException($"The model has no output named '{OutputName}' (outputs: {string.Join(", ", _session.OutputNames)}).");
    }

    public string ExecutionProvider { get; }
    public string InputName { get; }
    public string OutputName { get; }

    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>An output's declared shape (-1 for symbolic dimensions) and element type.</summary>
    public (int[] Shape, TensorElementType Type) OutputInfo(string name) =>
        (_session.OutputMetadata[name].Dimensions, _session.OutputMetadata[name].ElementDataType);

    /// <summary>The declared input shape; -1 marks a symbolic (dynamic) dimension.</summary>
    public int[] InputShape => _session.InputMetadata[InputName].Dimensions;

    /// <summary>Runs the model on a float tensor and returns the configured output and its shape.</summary>
    public (float[] Values, long[] Shape) Run(float[] input, long[] shape)
    {
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [InputName], [inputValue], [OutputName]);
        var output = outputs[0];
        return (output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape);
    }

    /// <summary>Runs the model and returns several outputs (e.g. the RFF layer activations exposed at load time).</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(float[] input, long[] shape, IReadOnlyList<string> outputNames) =>
        Run(input.AsMemory(), shape, outputNames);

    /// <summary>Runs the model on a tensor over (possibly pooled) memory, without copying the input.</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Run(Memory<float> input, long[] shape, IReadOnlyList<string> outputNames)
    {
        using var inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input, shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [InputName], [inputValue], outputNames.ToArray());
        var result = new Dictionary<string, (float[], long[])>();
        for (int i = 0; i < outputNames.Count; i++)
            result[outputNames[i]] = (ToFloats(outputs[i]), outputs[i].GetTensorTypeAndShape().Shape);
        return result;
    }

    /// <summary>A numeric output as floats (detectors often return int64 labels).</summary>
    private static float[] ToFloats(OrtValue value) => value.GetTensorTypeAndShape().ElementDataType switch
    {
        TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
        TensorElementType.Int64 => Array.ConvertAll(value.GetTensorDataAsSpan<long>().ToArray(), v => (float)v),
        TensorElementType.Int32 => Array.ConvertAll(value.GetTensorDataAsSpan<int>().ToArray(), v => (float)v),
        TensorElementType.Double => Array.ConvertAll(value.GetTensorDataAsSpan<double>().ToArray(), v => (float)v),
        var other => throw new InvalidDataException($"An output of element type {other} cannot be read as numbers."),
    };

    public void Dispose() => _session.Dispose();
}
