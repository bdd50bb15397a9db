using System.Buffers;

namespace RffService.Inference.Batching;

/// <summary>The outputs of one run, by name: values and shape (first axis = batch).</summary>
public delegate IReadOnlyDictionary<string, (float[] Values, long[] Shape)> BatchRunner(Memory<float> input, long[] shape);

/// <summary>
/// Triton-style dynamic batching for one model version. Callers queue single images; one worker takes the oldest,
/// adds the queued images of the same shape (up to <c>MaxBatchSize</c>, waiting at most <c>MaxQueueDelay</c> for
/// more), runs them as one stacked tensor, and gives each caller its slice. The queue is bounded: when it is full a
/// caller is refused at once (503 with Retry-After) rather than queued without limit. A caller whose token is
/// cancelled leaves the queue immediately. Images of different shapes never share a run.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private readonly BatchRunner _run;
    private readonly BatchingOptions _settings;
    private readonly string _model;
    private readonly LinkedList<Item> _queue = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;

    public DynamicBatcher(string model, BatchRunner run, BatchingOptions settings)
    {
        _model = model;
        _run = run;
        _settings = settings;
        _worker = Task.Run(WorkAsync);
    }

    public BatchingOptions Settings => _settings;

    /// <summary>Images waiting (not yet taken into a run).</summary>
    public int QueueLength { get { lock (_lock) return _queue.Count; } }

    private int _incoming;

    /// <summary>
    /// Announces an image on its way (being decoded). The worker waits for company only while some are on the way,
    /// so a lone request runs at once instead of waiting out <c>MaxQueueDelay</c>. Dispose once it is queued.
    /// </summary>
    public IDisposable Incoming()
    {
        Interlocked.Increment(ref _incoming);
        return new Arrival(this);
    }

    private sealed class Arrival(DynamicBatcher batcher) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            Interlocked.Decrement(ref batcher._incoming);
            try
            {
                batcher._signal.Release(); // wake the worker to look again
            }
            catch (ObjectDisposedException)
            {
                // the batcher is gone; nothing to wake
            }
        }
    }

    /// <summary>Called after each run with its batch size (for metrics and tests).</summary>
    public event Action<int>? BatchRan;

    /// <summary>Queues one image [C, H, W] and returns its outputs with a batch axis of 1.</summary>
    public Task<IReadOnlyDictionary<string, (float[] Values, long[] Shape)>> InferAsync(float[] image, int channels, int height, int width,
        CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var item = new Item(image, (channels, height, width));
        lock (_lock)
        {
            if (_stop.IsCancellationRequested)
                throw new InferenceException(ErrorKind.Unavailable, "Model unloading", $"Model '{_model}' is shutting down.");
            if (_queue.Count >= _settings.MaxQueueSize)
                throw new InferenceException(ErrorKind.Unavailable, "Overloaded",
                    $"Model '{_model}' has {_queue.Count} images waiting (the limit); retry shortly.");
            item.Node = _queue.AddLast(item);
        }
        if (cancellationToken.CanBeCanceled)
            item.Registration = cancellationToken.Register(() =>
            {
                // Out of the queue at once; if the worker has already taken it into a batch that is still filling, the
                // batch skips it (the run has not started: registrations are disposed when it does).
                lock (_lock)
                {
                    if (item.Node?.List is not null) _queue.Remove(item.Node);
                }
                item.Result.TrySetCanceled(cancellationToken);
            });
        _signal.Release();
        return item.Result.Task;
    }

    private async Task WorkAsync()
    {
        var batch = new List<Item>(_settings.MaxBatchSize);
        while (!_stop.IsCancellationRequested)
        {
            // The signal's count is only a hint (images of another shape, or cancelled ones, leave it out of step with
            // the queue), so the worker sleeps only when the queue is really empty.
            if (QueueLength == 0)
            {
                try
                {
                    await _signal.WaitAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            batch.Clear();
            if (!TakeSameShape(batch)) continue; // the image that signalled was cancelled or already taken
            var deadline = DateTime.UtcNow.AddTicks(_settings.MaxQueueDelayMicroseconds * 10L);
            while (batch.Count < _settings.MaxBatchSize)
            {
                if (!_settings.WaitWhenIdle && Volatile.Read(ref _incoming) == 0 && QueueLength == 0) break; // nobody else on the way: run now
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero) break;
                try
                {
                    if (!await _signal.WaitAsync(remaining, _stop.Token)) break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                TakeSameShape(batch);
            }
            Execute(batch);
        }
        FailQueued();
    }

    /// <summary>Moves queued images into the batch: the oldest first when it is empty, then those of the same shape, in order.</summary>
    private bool TakeSameShape(List<Item> batch)
    {
        lock (_lock)
        {
            if (_queue.Count == 0) return false;
            var shape = batch.Count > 0 ? batch[0].Shape : _queue.First!.Value.Shape;
            var node = _queue.First;
            bool took = false;
            while (node is not null && batch.Count < _settings.MaxBatchSize)
            {
                var next = node.Next;
                if (node.Value.Shape == shape)
                {
                    _queue.Remove(node);
                    batch.Add(node.Value);
                    took = true;
                }
                node = next;
            }
            return took;
        }
    }

    private void Execute(List<Item> taken)
    {
        foreach (var item in taken) item.Registration.Dispose(); // running: no longer cancellable
        var batch = taken.Where(i => !i.Result.Task.IsCompleted).ToList(); // cancelled while the batch was filling
        if (batch.Count == 0) return;
        var (c, h, w) = batch[0].Shape;
        int length = c * h * w;
        float[] buffer = ArrayPool<float>.Shared.Rent(batch.Count * length);
        try
        {
            for (int i = 0; i < batch.Count; i++) batch[i].Image.CopyTo(buffer, i * length);
            var outputs = _run(buffer.AsMemory(0, batch.Count * length), [batch.Count, c, h, w]);
            BatchRan?.Invoke(batch.Count);
            for (int i = 0; i < batch.Count; i++)
                batch[i].Result.TrySetResult(Slice(outputs, i, batch.Count));
        }
        catch (Exception ex)
        {
            foreach (var item in batch) item.Result.TrySetException(ex);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>Image <paramref name="index"/>'s part of every output whose first axis is the batch.</summary>
    private static Dictionary<string, (float[] Values, long[] Shape)> Slice(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs, int index, int count)
    {
        var result = new Dictionary<string, (float[], long[])>(outputs.Count);
        foreach (var (name, (values, shape)) in outputs)
        {
            int per = values.Length / count;
            var sliced = (long[])shape.Clone();
            sliced[0] = 1;
            result[name] = (values.AsSpan(index * per, per).ToArray(), sliced);
        }
        return result;
    }

    private void FailQueued()
    {
        List<Item> left;
        lock (_lock)
        {
            left = [.. _queue];
            _queue.Clear();
        }
        foreach (var item in left)
            item.Result.TrySetException(new InferenceException(ErrorKind.Unavailable, "Model unloading", $"Model '{_model}' is shutting down."));
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock) _stop.Cancel();
        await _worker;
        _stop.Dispose();
        _signal.Dispose();
    }

    private sealed class Item(float[] image, (int, int, int) shape)
    {
        public float[] Image { get; } = image;
        public (int C, int H, int W) Shape { get; } = shape;
        public TaskCompletionSource<IReadOnlyDictionary<string, (float[] Values, long[] Shape)>> Result { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Item>? Node { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
    }
}
