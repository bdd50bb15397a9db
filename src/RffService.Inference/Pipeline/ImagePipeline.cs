using System.Diagnostics;
using Microsoft.Extensions.Options;
using RffService.Inference.Common;
using RffService.Inference.Models;
using RffService.Inference.Monitoring;
using RffService.Inference.Runtime;
using RffService.Vision;
using RffService.Vision.Imaging;

namespace RffService.Inference.Pipeline;

/// <summary>One image of a request, decoded and written as the model's input tensor.</summary>
public sealed class PreparedImage : IDisposable
{
    /// <summary>Content hash of the image bytes; later requests (GET /cam) refer to it.</summary>
    public required string Id { get; init; }
    /// <summary>The decoded, upright image, when the caller asked to keep it (overlays); else null.</summary>
    public DecodedImage? Decoded { get; init; }
    /// <summary>Original width and height, after EXIF orientation.</summary>
    public required int Width { get; init; }
    public required int Height { get; init; }
    public required InputSpec Spec { get; init; }
    public required ResizeTransform Transform { get; init; }
    /// <summary>The normalised input tensor [C, H, W].</summary>
    public required float[] Tensor { get; init; }
    public required double DecodeMs { get; init; }

    public void Dispose() => Decoded?.Dispose();
}

/// <summary>An image and the outputs the model gave for it (batch axis of 1).</summary>
public sealed record ImageRun(PreparedImage Image, RunOutputs Outputs);

/// <summary>The images of one request, run: each with its outputs, and the time spent queued and running.</summary>
public sealed class ImageBatch(IReadOnlyList<ImageRun> runs, double inferenceMs) : IDisposable
{
    public IReadOnlyList<ImageRun> Runs { get; } = runs;
    public double InferenceMs { get; } = inferenceMs;

    public void Dispose()
    {
        foreach (var run in Runs) run.Image.Dispose();
    }
}

/// <summary>
/// The one path from image bytes to model outputs, shared by classification, detection and explanations: check the
/// request's image count, decode each image (header first, so oversized images are refused before any pixel is
/// decoded), write its tensor for the model, remember the bytes under the image id, and run every image through the
/// model's queue (with other requests' images), or directly when batching is off.
/// </summary>
public sealed class ImagePipeline(IOptions<InferenceOptions> options, ImageCache cache, IInferenceMetrics? metrics = null)
{
    private readonly InferenceOptions _options = options.Value;
    private readonly IInferenceMetrics _metrics = metrics ?? IInferenceMetrics.None;

    /// <param name="outputs">The outputs to return; the model's result outputs when null.</param>
    /// <param name="keepDecoded">Keep each decoded image (for overlays); the batch disposes them.</param>
    public async Task<ImageBatch> RunAsync(ModelEntry model, IReadOnlyList<ReadOnlyMemory<byte>> images, IReadOnlyList<string>? outputs = null,
        bool keepDecoded = false, CancellationToken cancellationToken = default)
    {
        RequestLimits.CheckImageCount(images.Count, _options.MaxBatchImages);
        var runtime = model.Runtime!;
        outputs ??= runtime.ResultOutputs;
        var prepared = new List<PreparedImage>(images.Count);
        try
        {
            using (var incoming = runtime.Batcher?.Incoming()) // tells the queue this request's images are coming
            {
                for (int i = 0; i < images.Count; i++)
                {
                    try
                    {
                        prepared.Add(Prepare(images[i], runtime, keepDecoded));
                    }
                    catch (InferenceException ex) when (images.Count > 1)
                    {
                        throw new InferenceException(ex.Kind, ex.Title, $"Image {i + 1} of {images.Count}: {ex.Message}");
                    }
                }
            }
            long started = Stopwatch.GetTimestamp();
            var results = runtime.Batcher is { } batcher
                ? await Task.WhenAll(prepared.Select(p => batcher.InferAsync(p.Tensor, Shape(p.Spec), outputs, cancellationToken)))
                : RunDirect(runtime, prepared, outputs);
            double inferenceMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            return new ImageBatch(prepared.Select((p, i) => new ImageRun(p, results[i])).ToList(), inferenceMs);
        }
        catch
        {
            foreach (var image in prepared) image.Dispose();
            throw;
        }
    }

    /// <summary>Decodes one image and writes the model's input tensor (and caches the bytes under the image's id), without running the model.</summary>
    public PreparedImage Prepare(ReadOnlyMemory<byte> bytes, ModelRuntime runtime, bool keepDecoded)
    {
        long started = Stopwatch.GetTimestamp();
        var image = ImageDecoder.Decode(bytes.Span, _options.MaxImagePixels);
        try
        {
            _metrics.ImageDecoded(image.Format);
            var spec = InputSpec.For(runtime.Config.Input, image.Width, image.Height);
            var tensor = new float[spec.TensorLength];
            var transform = ImagePreprocessor.WriteTensor(image, spec, tensor);
            string id = ImageId.Of(bytes.Span);
            cache.Add(id, bytes, runtime.Config.Task);
            return new PreparedImage
            {
                Id = id,
                Decoded = keepDecoded ? image : null,
                Width = image.Width,
                Height = image.Height,
                Spec = spec,
                Transform = transform,
                Tensor = tensor,
                DecodeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            };
        }
        finally
        {
            if (!keepDecoded) image.Dispose();
        }
    }

    /// <summary>Batching off: one run per input size for this request's images (one per image when the outputs have no batch axis).</summary>
    private static RunOutputs[] RunDirect(ModelRuntime runtime, List<PreparedImage> images, IReadOnlyList<string> outputs)
    {
        var results = new RunOutputs[images.Count];
        var groups = runtime.BatchAxis
            ? Enumerable.Range(0, images.Count).GroupBy(i => (images[i].Spec.Width, images[i].Spec.Height)).Select(g => g.ToArray())
            : Enumerable.Range(0, images.Count).Select(i => new[] { i });
        foreach (var members in groups)
        {
            var spec = images[members[0]].Spec;
            int length = spec.TensorLength;
            var stacked = new float[members.Length * length];
            for (int j = 0; j < members.Length; j++) images[members[j]].Tensor.CopyTo(stacked, j * length);
            var run = runtime.Session.Run(stacked, [members.Length, spec.Channels, spec.Height, spec.Width], outputs);
            for (int j = 0; j < members.Length; j++) results[members[j]] = run.Slice(j, members.Length);
        }
        return results;
    }

    private static (int, int, int) Shape(InputSpec spec) => (spec.Channels, spec.Height, spec.Width);
}
