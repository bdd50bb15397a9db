using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Runtime;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;
using RffService.Vision.Imaging;
using RffService.Vision.Postprocessing;

namespace RffService.Training.Evaluation;

/// <summary>
/// A model of the repository run in process the way the service runs it: its config.json, the highest version's
/// model.onnx in an ONNX Runtime session (CPU), and the service's own decoding, pre-processing and post-processing
/// (RffService.Vision), on encoded images. No batching queue, no HTTP.
/// </summary>
public sealed class RepositoryModel : IDisposable
{
    private readonly OrtSession _session;
    private readonly string _input, _output;
    private readonly IDetectionDecoder? _decoder;

    public RepositoryModel(string modelsRoot, string name)
    {
        string directory = Path.Combine(modelsRoot, name);
        string configPath = Path.Combine(directory, "config.json");
        if (!File.Exists(configPath)) throw new ArgumentException($"No model '{name}' under {modelsRoot} (no config.json).");
        Config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(configPath), ModelConfig.JsonOptions)
                 ?? throw new InvalidDataException($"{configPath} is empty.");
        int version = Directory.GetDirectories(directory).Select(Path.GetFileName).Select(v => int.TryParse(v, out int n) ? n : 0).Max();
        _session = new SessionFactory(SessionSettings.Cpu).Create(File.ReadAllBytes(Path.Combine(directory, version.ToString(), "model.onnx")));
        _input = Config.Input.Name ?? _session.Session.InputNames[0];
        _output = Config.Output.Name ?? _session.Session.OutputNames[0];
        if (Config.Detection is { } detection)
            _decoder = IDetectionDecoder.Create(detection, Config.Labels.Count, Config.Input.Width, Config.Input.Height);
    }

    public ModelConfig Config { get; }

    /// <summary>Class probabilities of each image (softmax of the scores unless the model gives probabilities).</summary>
    public IReadOnlyList<float[]> Classify(IReadOnlyList<ReadOnlyMemory<byte>> images) =>
        images.Select(bytes =>
        {
            var (tensor, spec, _) = Prepare(bytes);
            var scores = Run(tensor, spec, [_output])[_output].Values;
            var probabilities = new float[Config.Labels.Count];
            if (Config.Output.Probabilities) scores.AsSpan(0, probabilities.Length).CopyTo(probabilities);
            else Softmax.Apply(scores.AsSpan(0, probabilities.Length), probabilities);
            return probabilities;
        }).ToList();

    /// <summary>Detections of each image (class, score, box in original pixels), best first.</summary>
    public IReadOnlyList<IReadOnlyList<(int ClassIndex, float Score, Box Box)>> Detect(IReadOnlyList<ReadOnlyMemory<byte>> images, DetectionParameters parameters)
    {
        var decoder = _decoder ?? throw new InvalidOperationException("This model is not a detector.");
        return images.Select(bytes =>
        {
            var (tensor, spec, transform) = Prepare(bytes);
            var outputs = Run(tensor, spec, decoder.OutputNames);
            return (IReadOnlyList<(int, float, Box)>)decoder.Decode(outputs, 0, parameters)
                .Select(c => (c.ClassIndex, c.Score, transform.ToOriginal(c.Box, spec.Width, spec.Height)))
                .Where(d => d.Item3.Area > 0).ToList();
        }).ToList();
    }

    private (float[] Tensor, InputSpec Spec, ResizeTransform Transform) Prepare(ReadOnlyMemory<byte> bytes)
    {
        using var image = ImageDecoder.Decode(bytes.Span, long.MaxValue);
        var spec = InputSpec.For(Config.Input, image.Width, image.Height);
        var tensor = new float[spec.TensorLength];
        var transform = ImagePreprocessor.WriteTensor(image, spec, tensor);
        return (tensor, spec, transform);
    }

    private Dictionary<string, (float[] Values, long[] Shape)> Run(float[] tensor, InputSpec spec, IReadOnlyList<string> outputs)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(tensor, [1, spec.Channels, spec.Height, spec.Width]);
        using var runOptions = new RunOptions();
        using var results = _session.Session.Run(runOptions, [_input], [input], outputs.ToArray());
        var values = new Dictionary<string, (float[], long[])>();
        for (int i = 0; i < outputs.Count; i++)
        {
            var info = results[i].GetTensorTypeAndShape();
            values[outputs[i]] = (info.ElementDataType == TensorElementType.Int64
                ? Array.ConvertAll(results[i].GetTensorDataAsSpan<long>().ToArray(), v => (float)v)
                : results[i].GetTensorDataAsSpan<float>().ToArray(), info.Shape);
        }
        return values;
    }

    public void Dispose() => _session.Dispose();
}
