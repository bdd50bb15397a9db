using Prometheus;
using RffService.Inference;
using RffService.Inference.Models;

namespace RffService.Api.Metrics;

/// <summary>
/// The service's Prometheus metrics, served at GET /metrics with prometheus-net's process and .NET runtime metrics.
/// Each app instance has its own registry (several test hosts share one process).
/// </summary>
public sealed class PrometheusMetrics : IInferenceMetrics
{
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.0005, 2, 16); // 0.5 ms .. 16 s

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    private readonly Counter _requests;
    private readonly Histogram _requestSeconds, _inferenceSeconds, _batchSize;
    private readonly Counter _imagesDecoded;
    private readonly Gauge _modelState;

    /// <param name="services">Resolves the model repository at scrape time (the repository's loader reports to these metrics,
    /// so taking the repository in the constructor would be a dependency cycle).</param>
    public PrometheusMetrics(IServiceProvider services)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _requests = factory.CreateCounter("rff_http_requests_total",
            "HTTP requests by endpoint (route pattern), model and status code.", "endpoint", "model", "status");
        _requestSeconds = factory.CreateHistogram("rff_http_request_duration_seconds",
            "HTTP request latency by endpoint, from the first byte in to the last byte out.",
            new HistogramConfiguration { LabelNames = ["endpoint"], Buckets = LatencyBuckets });
        _inferenceSeconds = factory.CreateHistogram("rff_inference_duration_seconds",
            "ONNX Runtime run latency (one run per batch) by model and task.",
            new HistogramConfiguration { LabelNames = ["model", "task"], Buckets = LatencyBuckets });
        _batchSize = factory.CreateHistogram("rff_inference_batch_size",
            "Images per ONNX Runtime run, by model.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = [1, 2, 4, 8, 16, 32, 64, 128] });
        _imagesDecoded = factory.CreateCounter("rff_images_decoded_total",
            "Images decoded, by format.", "format");
        _modelState = factory.CreateGauge("rff_model_state",
            "1 for the state each model is in (loading, ready or failed), 0 for the others.", "model", "state");
        DotNetStats.Register(Registry);
        // Model states are read when Prometheus scrapes, so they are never stale.
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var model in services.GetRequiredService<ModelRepository>().Models)
                foreach (var state in Enum.GetValues<ModelState>())
                    _modelState.WithLabels(model.Name, state.ToString().ToLowerInvariant()).Set(model.State == state ? 1 : 0);
        });
    }

    public void ImageDecoded(string format) => _imagesDecoded.WithLabels(format).Inc();

    public void InferenceRun(string model, string task, int batchSize, TimeSpan elapsed)
    {
        _inferenceSeconds.WithLabels(model, task).Observe(elapsed.TotalSeconds);
        _batchSize.WithLabels(model).Observe(batchSize);
    }

    public void RequestFinished(string endpoint, string model, int status, TimeSpan elapsed)
    {
        _requests.WithLabels(endpoint, model, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _requestSeconds.WithLabels(endpoint).Observe(elapsed.TotalSeconds);
    }
}
