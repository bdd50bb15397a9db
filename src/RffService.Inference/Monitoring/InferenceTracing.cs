using System.Diagnostics;

namespace RffService.Inference.Monitoring;

/// <summary>
/// The inference core's trace spans (System.Diagnostics activities; exported by OpenTelemetry when the host turns
/// tracing on, free otherwise): one per queued batch or piece of work, linked to the requests it serves, with the
/// model, the batch size and the queue time; and one per model run.
/// </summary>
public static class InferenceTracing
{
    public const string SourceName = "RffService.Inference";
    public static readonly ActivitySource Source = new(SourceName);

    public const string ModelTag = "rff.model", TaskTag = "rff.task", BatchSizeTag = "rff.batch_size", QueueTimeTag = "rff.queue_time_ms";
}
