using System.Diagnostics;
using Microsoft.Extensions.Options;
using RffService.Inference.Explanations;
using RffService.Inference.Imaging;
using RffService.Inference.Models;
using RffService.Inference.Postprocessing;

namespace RffService.Inference.Classification;

/// <summary>Classifies a batch of encoded images with one model: decode, pre-process, one ONNX Runtime run, softmax, top-k.</summary>
/// <remarks>Every image classified is kept for a while in the <see cref="ImageCache"/> under its id, for GET /cam.</remarks>
public sealed class ClassificationService(ModelResolver resolver, IOptions<InferenceOptions> options, ImageCache? cache = null)
{
    public const string Task = "classification";

    private readonly InferenceOptions _options = options.Value;

    public IReadOnlyList<ClassificationResult> Classify(IReadOnlyList<ReadOnlyMemory<byte>> images, string? modelName, int topK)
    {
        var started = Stopwatch.GetTimestamp();
        if (images.Count == 0)
            throw new InferenceException(ErrorKind.BadInput, "No image", "The request holds no image.");
        if (images.Count > _options.MaxBatchImages)
            throw new InferenceException(ErrorKind.TooLarge, "Too many images",
                $"The request holds {images.Count} images; the limit is {_options.MaxBatchImages}.");
        if (topK < 1)
            throw new InferenceException(ErrorKind.InvalidParameter, "Invalid topK", $"topK must be at least 1, got {topK}.");

        var model = resolver.Resolve(modelName, Task);
        var config = model.Config!;
        var spec = InputSpec.From(config.Input);
        var batch = new float[images.Count * spec.TensorLength];
        var decodeMs = new double[images.Count];
        var ids = new string[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var decodeStarted = Stopwatch.GetTimestamp();
            try
            {
                using var image = ImageDecoder.Decode(images[i].Span, _options.MaxImagePixels);
                ImagePreprocessor.WriteTensor(image, spec, batch.AsSpan(i * spec.TensorLength, spec.TensorLength));
            }
            catch (InferenceException ex) when (images.Count > 1)
            {
                throw new InferenceException(ex.Kind, ex.Title, $"Image {i + 1} of {images.Count}: {ex.Message}");
            }
            ids[i] = ImageId.Of(images[i].Span);
            cache?.Add(ids[i], images[i]);
            decodeMs[i] = Stopwatch.GetElapsedTime(decodeStarted).TotalMilliseconds;
        }

        var inferenceStarted = Stopwatch.GetTimestamp();
        var (logits, _) = model.Session!.Run(batch, [images.Count, spec.Channels, spec.Height, spec.Width]);
        double inferenceMs = Stopwatch.GetElapsedTime(inferenceStarted).TotalMilliseconds;

        int classes = config.Labels.Count;
        var results = new ClassificationResult[images.Count];
        var probabilities = new float[classes];
        for (int i = 0; i < images.Count; i++)
        {
            var row = logits.AsSpan(i * classes, classes);
            if (config.Output.Probabilities) row.CopyTo(probabilities);
            else Softmax.Apply(row, probabilities);
            var predictions = TopK.Select(probabilities, topK)
                .Select(index => new Prediction(config.Labels[index], index, probabilities[index]))
                .ToList();
            double totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            results[i] = new ClassificationResult(model.Name, model.Version!.Value, ids[i], predictions, model.ExecutionProvider!,
                new Timings(Math.Round(decodeMs[i], 3), Math.Round(inferenceMs, 3), Math.Round(totalMs, 3)));
        }
        return results;
    }
}
