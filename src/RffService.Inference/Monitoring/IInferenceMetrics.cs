namespace RffService.Inference.Monitoring;

/// <summary>
/// What the inference core reports for monitoring. The core stays free of any metrics library; the API exports these
/// to Prometheus.
/// </summary>
public interface IInferenceMetrics
{
    /// <summary>An image was decoded (png, jpeg, webp, bmp or gif).</summary>
    void ImageDecoded(string format);

    /// <summary>One ONNX Runtime run of <paramref name="batchSize"/> inputs finished.</summary>
    void InferenceRun(string model, string task, int batchSize, TimeSpan elapsed);

    /// <summary>The number of requests waiting in a model's queue changed.</summary>
    void QueueLength(string model, int waiting);

    /// <summary>A run started after its oldest request waited <paramref name="waited"/> in the model's queue.</summary>
    void QueueWait(string model, TimeSpan waited);

    /// <summary>A model's load state changed (loading, ready, failed), or the model left the repository (null).</summary>
    void ModelState(string model, string? state);

    /// <summary>New files of a model failed to load (its previous version keeps serving).</summary>
    void ReloadFailed(string model) { }

    /// <summary>Reports nothing (the trainer and unit tests).</summary>
    public static IInferenceMetrics None { get; } = new NoMetrics();

    private sealed class NoMetrics : IInferenceMetrics
    {
        public void ImageDecoded(string format) { }
        public void InferenceRun(string model, string task, int batchSize, TimeSpan elapsed) { }
        public void ModelState(string model, string? state) { }
        public void QueueLength(string model, int waiting) { }
        public void QueueWait(string model, TimeSpan waited) { }
    }
}
