using RffService.Vision;
using RffService.Inference.Monitoring;
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Runtime;

namespace RffService.Inference.Runtime;

/// <summary>The outputs of one run by name: values as floats and shape (first axis = batch).</summary>
public sealed class RunOutputs : Dictionary<string, (float[] Values, long[] Shape)>
{
    public RunOutputs(int capacity) : base(capacity, StringComparer.Ordinal) { }

    /// <summary>Item <paramref name="index"/>'s part of every output of a run over <paramref name="count"/> stacked inputs.</summary>
    public RunOutputs Slice(int index, int count)
    {
        if (count == 1) return this;
        var result = new RunOutputs(Count);
        foreach (var (name, (values, shape)) in this)
        {
            int per = values.Length / count;
            var sliced = (long[])shape.Clone();
            sliced[0] = 1;
            result[name] = (values.AsSpan(index * per, per).ToArray(), sliced);
        }
        return result;
    }

    /// <summary>
    /// Refuses outputs holding NaN or an infinity (a model that overflows, or an input far outside what it expects):
    /// a clear 422 naming the model and the output, where writing them would fail or mislead.
    /// </summary>
    public void EnsureFinite(string model, IEnumerable<string> names)
    {
        foreach (var name in names)
            if (TryGetValue(name, out var output)) Finite(model, name, output.Values);
    }

    /// <inheritdoc cref="EnsureFinite(string, IEnumerable{string})"/>
    public static void Finite(string model, string output, ReadOnlySpan<float> values)
    {
        if (!System.Numerics.Tensors.TensorPrimitives.IsFiniteAll(values))
            throw new InferenceException(ErrorKind.InvalidParameter, "Non-finite model output",
                $"Model '{model}' produced NaN or infinite values in its output '{output}' for this input, so there is no result to give. " +
                "The input may lie far outside the range the model expects (check its normalisation), or the model itself overflows.");
    }
}

/// <summary>
/// One ONNX Runtime session for one model version, created once and used concurrently (InferenceSession.Run is
/// thread-safe). Every run is reported to the metrics with the model's name and batch size.
/// </summary>
public sealed class ModelSession : IDisposable
{
    private readonly OrtSession _ort;
    private readonly string _model, _task;
    private readonly IInferenceMetrics _metrics;

    /// <param name="channelsLast">The model takes NHWC: the NCHW tensors the service prepares are transposed.</param>
    public ModelSession(OrtSession ort, string model, string task, string? inputName, string? outputName, IInferenceMetrics? metrics = null,
        bool channelsLast = false)
    {
        ChannelsLast = channelsLast;
        _ort = ort;
        _model = model;
        _task = task;
        _metrics = metrics ?? IInferenceMetrics.None;
        var session = ort.Session;
        InputName = inputName ?? session.InputNames[0];
        OutputName = outputName ?? session.OutputNames[0];
        if (!session.InputMetadata.ContainsKey(InputName))
            throw new InvalidDataException($"The model has no input named '{InputName}' (inputs: {string.Join(", ", session.InputNames)}).");
        if (!session.OutputMetadata.ContainsKey(OutputName))
            throw new InvalidDataException($"The model has no output named '{OutputName}' (outputs: {string.Join(", ", session.OutputNames)}).");
        if (!ImageInputTypes.Contains(InputType))
            throw new InvalidDataException($"The model's input '{InputName}' is {InputType.ToString().ToLowerInvariant()}; the service feeds float32, float16 or uint8 images.");
    }

    public string ExecutionProvider => _ort.ExecutionProvider;
    public string ModelName => _model;

    private double _secondsPerImage;

    /// <summary>The model's recent time per image in a run (a moving average; the warm-up run at load gives the first value).</summary>
    public TimeSpan TimePerImage => TimeSpan.FromSeconds(Volatile.Read(ref _secondsPerImage));
    public string InputName { get; }
    /// <summary>The output a classifier's scores are read from.</summary>
    public string OutputName { get; }
    public IReadOnlyList<string> OutputNames => _ort.Session.OutputNames;

    /// <summary>An output's declared shape (-1 for symbolic dimensions) and element type.</summary>
    public (int[] Shape, TensorElementType Type) OutputInfo(string name) =>
        (_ort.Session.OutputMetadata[name].Dimensions, _ort.Session.OutputMetadata[name].ElementDataType);

    /// <summary>The declared input shape; -1 marks a symbolic (dynamic) dimension.</summary>
    public int[] InputShape => _ort.Session.InputMetadata[InputName].Dimensions;

    /// <summary>False for a model that takes one image [C, H, W] (torchvision's detection exports): it runs one image at a time.</summary>
    public bool InputHasBatchAxis => InputShape.Length != 3;

    /// <summary>
    /// The batch size an NCHW input is fixed at (an export without dynamic_axes whose graph could not be given a
    /// symbolic batch, see <see cref="Onnx.Runtime.FixedBatch"/>); null when any batch size runs.
    /// </summary>
    public int? FixedBatchSize => InputShape is [> 0 and var batch, _, _, _] ? batch : null;

    /// <summary>Runs the model on a tensor over (possibly pooled) memory, without copying the input.</summary>
    /// <param name="report">False for the service's own runs (the warm-up at load), which the metrics leave out.</param>
    public RunOutputs Run(Memory<float> input, long[] shape, IReadOnlyList<string> outputNames, bool report = true)
    {
        long started = Stopwatch.GetTimestamp();
        using var activity = report ? InferenceTracing.Source.StartActivity("rff.model_run") : null;
        activity?.SetTag(InferenceTracing.ModelTag, _model);
        activity?.SetTag(InferenceTracing.TaskTag, _task);
        activity?.SetTag(InferenceTracing.BatchSizeTag, InputHasBatchAxis ? shape[0] : 1);
        if (!InputHasBatchAxis)
            shape = shape[0] == 1 ? shape[1..] : throw new InvalidOperationException($"Model '{_model}' takes one image at a time.");
        if (ChannelsLast && shape.Length == 4) (input, shape) = (ToChannelsLast(input.Span, shape), [shape[0], shape[2], shape[3], shape[1]]);
        using var inputValue = InputValue(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = _ort.Session.Run(runOptions, [InputName], [inputValue], outputNames.ToArray());
        var result = new RunOutputs(outputNames.Count);
        for (int i = 0; i < outputNames.Count; i++)
            result[outputNames[i]] = (ToFloats(outputs[i]), outputs[i].GetTensorTypeAndShape().Shape);
        var elapsed = Stopwatch.GetElapsedTime(started);
        int images = InputHasBatchAxis ? (int)shape[0] : 1;
        // A moving average of the time per image, for estimating what queued work will cost.
        double perImage = elapsed.TotalSeconds / images, previous = Volatile.Read(ref _secondsPerImage);
        Volatile.Write(ref _secondsPerImage, previous == 0 ? perImage : 0.9 * previous + 0.1 * perImage);
        if (report) _metrics.InferenceRun(_model, _task, images, elapsed);
        return result;
    }

    /// <summary>The element types of image inputs the service feeds (it prepares float32 tensors and converts).</summary>
    public static readonly IReadOnlySet<TensorElementType> ImageInputTypes =
        new HashSet<TensorElementType> { TensorElementType.Float, TensorElementType.Float16, TensorElementType.UInt8 };

    /// <summary>The model takes NHWC (channels last); <see cref="Run"/> still takes NCHW.</summary>
    public bool ChannelsLast { get; }

    /// <summary>The input's element type: float32, or float16 or uint8 (then converted from the float32 tensor the service prepares).</summary>
    public TensorElementType InputType => _ort.Session.InputMetadata[InputName].ElementDataType;

    /// <summary>
    /// The input as the model takes it: float32 without a copy; float16 converted; uint8 rounded and clamped to 0-255
    /// (a uint8 model's config maps pixels to their own values, mean 0 and std 1/255, see <see cref="Models.ModelLoader"/>).
    /// </summary>
    private OrtValue InputValue(Memory<float> input, long[] shape)
    {
        switch (InputType)
        {
            case TensorElementType.Float:
                return OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input, shape);
            case TensorElementType.Float16:
                var halves = new Float16[input.Length];
                var source = input.Span;
                for (int i = 0; i < halves.Length; i++) halves[i] = (Float16)source[i];
                return OrtValue.CreateTensorValueFromMemory(halves, shape);
            case TensorElementType.UInt8:
                var bytes = new byte[input.Length];
                var values = input.Span;
                for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)Math.Clamp(MathF.Round(values[i]), 0f, 255f);
                return OrtValue.CreateTensorValueFromMemory(bytes, shape);
            default:
                throw new InvalidDataException($"The model's input '{InputName}' is {InputType.ToString().ToLowerInvariant()}; the service feeds float32, float16 or uint8 images.");
        }
    }

    /// <summary>[N, C, H, W] to [N, H, W, C].</summary>
    private static float[] ToChannelsLast(ReadOnlySpan<float> nchw, long[] shape)
    {
        int n = (int)shape[0], c = (int)shape[1], plane = (int)(shape[2] * shape[3]);
        var nhwc = new float[nchw.Length];
        for (int b = 0; b < n; b++)
            for (int k = 0; k < c; k++)
            {
                var source = nchw.Slice((b * c + k) * plane, plane);
                for (int p = 0; p < plane; p++) nhwc[(b * plane + p) * c + k] = source[p];
            }
        return nhwc;
    }

    /// <summary>A numeric output as floats (detectors often return int64 labels).</summary>
    private static float[] ToFloats(OrtValue value) => value.GetTensorTypeAndShape().ElementDataType switch
    {
        TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
        TensorElementType.Float16 => Array.ConvertAll(value.GetTensorDataAsSpan<Float16>().ToArray(), v => v.ToFloat()),
        TensorElementType.Int64 => Array.ConvertAll(value.GetTensorDataAsSpan<long>().ToArray(), v => (float)v),
        TensorElementType.Int32 => Array.ConvertAll(value.GetTensorDataAsSpan<int>().ToArray(), v => (float)v),
        TensorElementType.Double => Array.ConvertAll(value.GetTensorDataAsSpan<double>().ToArray(), v => (float)v),
        var other => throw new InvalidDataException($"An output of element type {other} cannot be read as numbers."),
    };

    public void Dispose() => _ort.Dispose();
}
