using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Runtime;
using RffService.Onnx;
using RffService.Training.Data;

using RffService.Training.Common;
namespace RffService.Training.Features;

/// <summary>Runs the RFF backbone (the model without its readout) through ONNX Runtime to get readout features.</summary>
public sealed class FeatureExtractor : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RffCnnSpec _spec;

    public FeatureExtractor(RffCnnSpec spec, int threads = 0)
    {
        _spec = spec;
        _session = new SessionFactory(new SessionSettings(IntraOpThreads: threads)).Create(RffCnnBuilder.BuildBackbone(spec)).Session;
    }

    public int Dimension => _spec.Features;

    /// <summary>Features of images [start, start + count) of the data set, [count, D] row-major.</summary>
    public float[] Extract(ImageDataset data, int start, int count, Normalisation normalisation, bool mirror = false)
    {
        var input = new float[count * data.ImageSize];
        for (int i = 0; i < count; i++)
            normalisation.Apply(data.Image(start + i), input.AsSpan(i * data.ImageSize, data.ImageSize), mirror, data.Width);
        return Run(input, count, data.Height, data.Width);
    }

    public float[] Run(float[] input, int count, int height, int width)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, [count, _spec.InputChannels, height, width]);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [RffCnnBuilder.InputName], [value], [RffCnnBuilder.FeaturesName]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
