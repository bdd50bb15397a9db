using Microsoft.Extensions.Options;

namespace RffService.Inference.Common;

/// <summary>Bounds of the recently-seen-images cache (configuration section "Inference:ImageCache").</summary>
public sealed class ImageCacheOptions
{
    /// <summary>Most images kept.</summary>
    public int MaxEntries { get; set; } = 256;
    /// <summary>Most bytes kept (encoded image bytes).</summary>
    public long MaxBytes { get; set; } = 64 * 1024 * 1024;
    /// <summary>How long an image stays after it was last stored or used.</summary>
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// Recently seen images by image id, so GET /cam can explain them without a new upload. Bounded by entry count,
/// bytes and time to live; the least recently used image goes first. It keeps the caller's bytes without copying them:
/// the request readers hand over arrays that nothing writes to again.
/// </summary>
public sealed class ImageCache(IOptions<ImageCacheOptions> options, TimeProvider time)
{
    private readonly ImageCacheOptions _options = options.Value;
    private readonly LinkedList<(string Id, ReadOnlyMemory<byte> Bytes, DateTimeOffset Expires, string? Task)> _order = new();
    private readonly Dictionary<string, LinkedListNode<(string Id, ReadOnlyMemory<byte> Bytes, DateTimeOffset Expires, string? Task)>> _index = new();
    private readonly Lock _lock = new();
    private long _bytes;

    public int Count { get { lock (_lock) return _index.Count; } }
    public long Bytes { get { lock (_lock) return _bytes; } }

    /// <param name="task">The task of the model the image was last sent to (classification or detection), so an explanation by id can tell what the client saw.</param>
    public void Add(string id, ReadOnlyMemory<byte> image, string? task = null)
    {
        if (image.Length > _options.MaxBytes) return; // larger than the whole cache: never kept
        lock (_lock)
        {
            Remove(id);
            _index[id] = _order.AddFirst((id, image, time.GetUtcNow() + _options.TimeToLive, task));
            _bytes += image.Length;
            while (_index.Count > _options.MaxEntries || _bytes > _options.MaxBytes) Remove(_order.Last!.Value.Id);
        }
    }

    public ReadOnlyMemory<byte>? Get(string id) => Find(id)?.Bytes;

    /// <summary>The image and the task of the model it was last sent to, or null when unknown or expired.</summary>
    public (ReadOnlyMemory<byte> Bytes, string? Task)? Find(string id)
    {
        lock (_lock)
        {
            if (!_index.TryGetValue(id, out var node)) return null;
            if (node.Value.Expires <= time.GetUtcNow())
            {
                Remove(id);
                return null;
            }
            _order.Remove(node);
            node.Value = node.Value with { Expires = time.GetUtcNow() + _options.TimeToLive };
            _order.AddFirst(node);
            return (node.Value.Bytes, node.Value.Task);
        }
    }

    private void Remove(string id)
    {
        if (!_index.Remove(id, out var node)) return;
        _order.Remove(node);
        _bytes -= node.Value.Bytes.Length;
    }
}
