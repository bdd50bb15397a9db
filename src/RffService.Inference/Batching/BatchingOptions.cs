using RffService.Vision.Configuration;

namespace RffService.Inference.Batching;

/// <summary>
/// Dynamic batching defaults (configuration section "Inference:Batching"); a model's config.json may override them
/// in its "batching" section. Their limits are those of that section (docs/model-config.schema.json).
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>False: every request runs on its own (one ONNX Runtime run per request).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Most images in one run.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>How long the first image of a batch may wait for others, in microseconds.</summary>
    public int MaxQueueDelayMicroseconds { get; set; } = 1000;

    /// <summary>
    /// False (default): the first image of a batch waits for company only while other requests are being decoded for
    /// this model, so a lone request never waits. True: it always waits up to the delay (Triton's behaviour).
    /// </summary>
    public bool WaitWhenIdle { get; set; }

    /// <summary>Most images waiting; beyond it requests are refused at once with 503 and Retry-After.</summary>
    public int MaxQueueSize { get; set; } = 512;

    /// <summary>These defaults as a config.json "batching" section.</summary>
    public BatchingConfig AsConfig() => new()
    {
        Enabled = Enabled,
        MaxBatchSize = MaxBatchSize,
        MaxQueueDelayMicroseconds = MaxQueueDelayMicroseconds,
        MaxQueueSize = MaxQueueSize,
        WaitWhenIdle = WaitWhenIdle,
    };

    public BatchingOptions With(BatchingConfig? config) => config is null ? this : new BatchingOptions
    {
        Enabled = config.Enabled ?? Enabled,
        MaxBatchSize = config.MaxBatchSize ?? MaxBatchSize,
        MaxQueueDelayMicroseconds = config.MaxQueueDelayMicroseconds ?? MaxQueueDelayMicroseconds,
        MaxQueueSize = config.MaxQueueSize ?? MaxQueueSize,
        WaitWhenIdle = config.WaitWhenIdle ?? WaitWhenIdle,
    };
}
