namespace RffService.Vision.Configuration;

/// <summary>The "batching" section of a model's config.json: any value left out takes the service default.</summary>
public sealed record BatchingConfig
{
    public bool? Enabled { get; init; }
    public int? MaxBatchSize { get; init; }
    public int? MaxQueueDelayMicroseconds { get; init; }
    public int? MaxQueueSize { get; init; }
    public bool? WaitWhenIdle { get; init; }
}
