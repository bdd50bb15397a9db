using Prometheus;
using RffService.Inference.Monitoring;

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
    private readonly Gauge _modelState, _queueLength;
    private readonly Histogram _queueSeconds;
    private readonly Counter _unhandled, _reloadFailures;
    private static readonly string[] States = ["loading", "ready", "failed"];

    public PrometheusMetrics(RffService.Onnx.Explanations.GraphSessionCache? explanationGraphs = null)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _unhandled = factory.CreateCounter("rff_unhandled_exceptions_total",
            "Requests that failed with an unexpected error (answered 500, or gRPC INTERNAL), by surface (http, grpc). Anything a client or a model can cause has its own 4xx: this stays 0.", "surface");
        _reloadFailures = factory.CreateCounter("rff_model_reload_failures_total",
            "New model files that failed to load while the previous version kept serving, by model.", "model");
        _unhandled.WithLabels("http");
        _unhandled.WithLabels("grpc");
        if (explanationGraphs is not null) RegisterCache(factory, explanationGraphs);
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
        _queueLength = factory.CreateGauge("rff_queue_length",
            "Requests accepted and not yet started, per model queue (as Triton's pending request count).", "model");
        _queueSeconds = factory.CreateHistogram("rff_queue_duration_seconds",
            "Time the oldest request of each run waited in the model's queue (as Triton's queue duration).",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = LatencyBuckets });
        DotNetStats.Register(Registry);
    }

    /// <summary>The explanation graphs' session cache: entries, estimated bytes against the budget, hits, misses, evictions (read at each scrape).</summary>
    private void RegisterCache(MetricFactory factory, RffService.Onnx.Explanations.GraphSessionCache cache)
    {
        var entries = factory.CreateGauge("rff_explanation_graphs", "Explanation graph sessions kept (all models).");
        var bytes = factory.CreateGauge("rff_explanation_graph_bytes", "Estimated memory of the kept explanation graph sessions.");
        var budget = factory.CreateGauge("rff_explanation_graph_budget_bytes", "Their budget (Inference:ExplanationGraphBudgetMB).");
        var hits = factory.CreateCounter("rff_explanation_graph_hits_total", "Explanation runs whose graph session was kept.");
        var misses = factory.CreateCounter("rff_explanation_graph_misses_total", "Explanation runs that built their graph session.");
        var evictions = factory.CreateCounter("rff_explanation_graph_evictions_total", "Graph sessions evicted to stay within the budget.");
        Registry.AddBeforeCollectCallback(() =>
        {
            entries.Set(cache.Count);
            bytes.Set(cache.Bytes);
            budget.Set(cache.BudgetBytes);
            hits.IncTo(cache.Hits);
            misses.IncTo(cache.Misses);
            evictions.IncTo(cache.Evictions);
        });
    }

    public void ReloadFailed(string model) => _reloadFailures.WithLabels(model).Inc();

    /// <summary>A request failed with an unexpected error on <paramref name="surface"/> (http or grpc).</summary>
    public void UnhandledException(string surface) => _unhandled.WithLabels(surface).Inc();

    public void ImageDecoded(string format) => _imagesDecoded.WithLabels(format).Inc();

    public void InferenceRun(string model, string task, int batchSize, TimeSpan elapsed)
    {
        _inferenceSeconds.WithLabels(model, task).Observe(elapsed.TotalSeconds);
        _batchSize.WithLabels(model).Observe(batchSize);
    }

    /// <summary>1 for the state the model is in, 0 for the others; a model that left the repository loses its series.</summary>
    public void ModelState(string model, string? state)
    {
        foreach (var name in States)
        {
            if (state is null) _modelState.RemoveLabelled(model, name);
            else _modelState.WithLabels(model, name).Set(name == state ? 1 : 0);
        }
    }

    public void QueueLength(string model, int waiting) => _queueLength.WithLabels(model).Set(waiting);

    public void QueueWait(string model, TimeSpan waited) => _queueSeconds.WithLabels(model).Observe(waited.TotalSeconds);

    public void RequestFinished(string endpoint, string model, int status, TimeSpan elapsed)
    {
        _requests.WithLabels(endpoint, model, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _requestSeconds.WithLabels(endpoint).Observe(elapsed.TotalSeconds);
    }
}
