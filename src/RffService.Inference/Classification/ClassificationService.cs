using System.Diagnostics;
using RffService.Inference.Common;
using RffService.Inference.Models;
using RffService.Inference.Pipeline;
using RffService.Vision;
using RffService.Vision.Configuration;
using RffService.Vision.Postprocessing;

namespace RffService.Inference.Classification;

/// <summary>Classifies a batch of encoded images with one model: the image pipeline, then softmax and top-k.</summary>
public sealed class ClassificationService(ModelResolver resolver, ImagePipeline pipeline)
{
    public const string Task = "classification";

    public async Task<IReadOnlyList<ClassificationResult>> ClassifyAsync(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, int topK,
        CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        if (topK < 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "Invalid topK", $"topK must be at least 1, got {topK}.");
        var model = resolver.Resolve(modelName, ModelTasks.Classification);
        var runtime = model.Runtime!;
        using var batch = await pipeline.RunAsync(model, images, cancellationToken: cancellationToken);
        var config = runtime.Config;
        var results = new ClassificationResult[batch.Runs.Count];
        for (int i = 0; i < results.Length; i++)
        {
            var (image, outputs) = batch.Runs[i];
            outputs.EnsureFinite(model.Name, [runtime.Session.OutputName]);
            var probabilities = Probabilities(outputs[runtime.Session.OutputName].Values, config.Labels.Count, config.Output.Probabilities);
            var predictions = TopK.Select(probabilities, topK)
                .Select(index => new Prediction(config.Labels[index], index, probabilities[index]))
                .ToList();
            results[i] = new ClassificationResult(model.Name, model.Version!.Value, image.Id, predictions, runtime.ExecutionProvider,
                new Timings(Timings.Round(image.DecodeMs), Timings.Round(batch.InferenceMs), Timings.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds)));
        }
        return results;
    }

    /// <summary>The class probabilities of one image's output row (softmax unless the model already gives probabilities).</summary>
    public static float[] Probabilities(ReadOnlySpan<float> scores, int classes, bool alreadyProbabilities)
    {
        var probabilities = new float[classes];
        if (alreadyProbabilities) scores[..classes].CopyTo(probabilities);
        else Softmax.Apply(scores[..classes], probabilities);
        return probabilities;
    }
}
