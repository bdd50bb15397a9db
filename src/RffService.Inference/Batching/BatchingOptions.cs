using System.ComponentModel.DataAnnotations;
using RffService.Vision.Configuration;

namespace RffService.Inference.Batching;

/// <summary>
/// Dynamic batching defaults (configuration section "Inference:Batching"); a model's config.json may override them
/// in its "batching" section.
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>False: every request runs on its own (one ONNX Runtime run per request).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Most images in one run.</summary>
    [Range(1, 1024)]
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>How long the first image of a batch may wait for others, in microseconds.</summary>
    [Range(0, 10_000_000)]
    public int MaxQueueDelayMicroseconds { get; set; } = 1000;

    /// <summary>
    /// False (default): the first image of a batch waits for company only while other requests are being decoded for
    /// this model, so a lone request never waits. True: it always waits up to the delay (Triton's behaviour).
    /// </summary>
    public bool WaitWhenIdle { get; set; }

    /// <summary>Most images waiting; beyond it requests are refused at once with 503 and Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int MaxQueueSize { get; set; } = 512;

    public BatchingOptions With(BatchingConfig? config) => config is null ? this : new BatchingOptions
    {
        Enabled = config.Enabled ?? Enabled,
        MaxBatchSize = config.MaxBatchSize ?? MaxBatchSize,
        MaxQueueDelayMicroseconds = config.MaxQueueDelayMicroseconds ?? MaxQueueDelayMicroseconds,
        MaxQueueSize = config.MaxQueueSize ?? MaxQueueSize,
        WaitWhenIdle = config.WaitWhenIdle ?? WaitWhenIdle,
    };
}
