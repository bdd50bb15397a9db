using System.Diagnostics;
using RffService.Inference.Monitoring;
using System.Buffers;
using RffService.Inference.Runtime;
using RffService.Vision;

namespace RffService.Inference.Batching;

/// <summary>Runs a stacked batch [N, C, H, W] and returns the named outputs (first axis = batch).</summary>
public delegate RunOutputs BatchRunner(Memory<float> input, long[] shape, IReadOnlyList<string> outputs);

/// <summary>What a batcher reports: how much work waits, and how long each piece waited before it ran.</summary>
public interface IBatcherObserver
{
    /// <summary>The number of requests accepted and not yet started changed.</summary>
    void Waiting(int count);

    /// <summary>A run (a batch of <paramref name="size"/> images, or one piece of other work) started; its oldest item waited <paramref name="queued"/>.</summary>
    void Started(int size, TimeSpan queued);
}

/// <summary>
/// Triton-style dynamic batching for one model version. Callers queue single images; one worker takes the oldest,
/// adds the queued images that can share its run (same shape, same outputs; up to <c>MaxBatchSize</c>, waiting at most
/// <c>MaxQueueDelay</c> for more), runs them as one stacked tensor, and gives each caller its slice. Other work for the
/// model (an explanation's passes) joins the same queue with <see cref="RunAsync{T}"/> and runs in turn. The queue is
/// bounded: when it is full a caller is refused at once (503 with Retry-After) rather than queued without limit.
/// A caller whose token is cancelled leaves the queue immediately.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private readonly BatchRunner _run;
    private readonly BatchingOptions _settings;
    private readonly string _model;
    private int _foregroundRuns; // foreground runs since background work last ran while some waited (under _lock)
    private readonly LinkedList<Item> _queue = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;
    private readonly IBatcherObserver? _observer;
    private int _incoming, _waiting;

    public DynamicBatcher(string model, BatchRunner run, BatchingOptions settings, IBatcherObserver? observer = null)
    {
        _model = model;
        _run = run;
        _settings = settings;
        _observer = observer;
        _worker = Task.Run(WorkAsync);
    }

    public BatchingOptions Settings => _settings;

    /// <summary>Work in the queue (not yet taken into a batch).</summary>
    public int QueueLength { get { lock (_lock) return _queue.Count; } }

    /// <summary>Requests accepted and not yet started: in the queue, or in a batch that is still filling.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Called after each batched run with its size (for metrics and tests).</summary>
    public event Action<int>? BatchRan;

    /// <summary>
    /// Announces an image on its way (being decoded). The worker waits for company only while some are on the way,
    /// so a lone request runs at once instead of waiting out <c>MaxQueueDelay</c>. Dispose once it is queued.
    /// </summary>
    public IDisposable Incoming()
    {
        Interlocked.Increment(ref _incoming);
        return new Arrival(this);
    }

    /// <summary>Queues one image [C, H, W] and returns the named outputs with a batch axis of 1.</summary>
    public Task<RunOutputs> InferAsync(float[] image, (int Channels, int Height, int Width) shape, IReadOnlyList<string> outputs,
        CancellationToken cancellationToken = default) =>
        Enqueue(new ImageItem(image, shape, outputs), cancellationToken);

    /// <summary>
    /// Queues other work for the model (it runs alone, in turn with the batches) and returns its result.
    /// <paramref name="background"/> work (explanations' many passes) yields to images and other work waiting: it runs
    /// when nothing else waits, or after <see cref="ForegroundRunsPerBackground"/> foreground runs, so it is never starved
    /// and cheap requests never queue behind it.
    /// </summary>
    public async Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken = default, bool background = false) =>
        (T)(await Enqueue(new WorkItem(() => work()!, background), cancellationToken))!;

    /// <summary>Foreground runs (batches of images, foreground work) that may go ahead of waiting background work before it gets a turn.</summary>
    public const int ForegroundRunsPerBackground = 4;

    private Task<TResult> Enqueue<TResult>(Item<TResult> item, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_stop.IsCancellationRequested)
                throw new InferenceException(ErrorKind.Unavailable, "Model unloading", $"Model '{_model}' is shutting down.");
            if (_queue.Count >= _settings.MaxQueueSize)
                throw new InferenceException(ErrorKind.Unavailable, "Overloaded",
                    $"Model '{_model}' has {_queue.Count} requests waiting (the limit); retry shortly.");
            item.Node = _queue.AddLast(item);
            item.Enqueued = DateTime.UtcNow;
            item.Caller = Activity.Current?.Context; // the request's span: the batch's span links to it
        }
        ChangeWaiting(+1);
        item.Result.Task.ContinueWith(_ => { if (Interlocked.Exchange(ref item.Counted, 1) == 0) ChangeWaiting(-1); }, TaskScheduler.Default);
        if (cancellationToken.CanBeCanceled)
            item.Registration = cancellationToken.Register(() =>
            {
                // Out of the queue at once; if the worker has already taken it into a batch that is still filling, the
                // batch skips it (the run has not started: registrations are disposed when it does).
                lock (_lock)
                {
                    if (item.Node?.List is not null) _queue.Remove(item.Node);
                }
                item.Cancel(cancellationToken);
            });
        _signal.Release();
        return item.Result.Task;
    }

    private async Task WorkAsync()
    {
        var batch = new List<ImageItem>(_settings.MaxBatchSize);
        while (!_stop.IsCancellationRequested)
        {
            // The signal's count is only a hint (cancelled items leave it out of step with the queue), so the worker
            // sleeps only when the queue is really empty.
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
            if (TakeWork() is { } work)
            {
                work.Execute(this);
                continue;
            }
            batch.Clear();
            if (!TakeCompatible(batch)) continue; // the item that signalled was cancelled or already taken
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
                TakeCompatible(batch);
            }
            Execute(batch);
        }
        FailQueued();
    }

    /// <summary>
    /// The work to run next, or null when a batch of images goes next: the oldest foreground item decides (work runs
    /// alone, an image starts a batch), unless background work has waited out its turn; background work runs when
    /// nothing else waits.
    /// </summary>
    private WorkItem? TakeWork()
    {
        lock (_lock)
        {
            Item? foreground = null;
            WorkItem? background = null;
            foreach (var item in _queue) // the oldest of each kind, in one pass
            {
                if (item is WorkItem { Background: true } work) background ??= work;
                else foreground ??= item;
                if (foreground is not null && background is not null) break;
            }
            WorkItem? chosen;
            if (background is not null && (foreground is null || _foregroundRuns >= ForegroundRunsPerBackground))
                chosen = background;
            else
                chosen = foreground as WorkItem;
            if (chosen?.Background == true) _foregroundRuns = 0;
            else if (foreground is not null && background is not null) _foregroundRuns++;
            if (chosen is not null) _queue.Remove(chosen.Node!);
            return chosen;
        }
    }

    /// <summary>Moves queued images into the batch: the oldest first when it is empty, then those that can share its run, in order.</summary>
    private bool TakeCompatible(List<ImageItem> batch)
    {
        lock (_lock)
        {
            var first = batch.Count > 0 ? batch[0] : _queue.OfType<ImageItem>().FirstOrDefault();
            if (first is null) return false;
            bool took = false;
            for (var node = _queue.First; node is not null && batch.Count < _settings.MaxBatchSize;)
            {
                var next = node.Next;
                if (node.Value is ImageItem image && image.SharesRunWith(first))
                {
                    _queue.Remove(node);
                    batch.Add(image);
                    took = true;
                }
                node = next;
            }
            return took;
        }
    }

    private void Execute(List<ImageItem> taken)
    {
        foreach (var item in taken) item.Registration.Dispose(); // running: no longer cancellable
        var batch = taken.Where(i => !i.Result.Task.IsCompleted).ToList(); // cancelled while the batch was filling
        if (batch.Count == 0) return;
        using var activity = Started(batch, batch.Count, "rff.batch");
        var (c, h, w) = batch[0].Shape;
        int length = c * h * w;
        float[] buffer = ArrayPool<float>.Shared.Rent(batch.Count * length);
        try
        {
            for (int i = 0; i < batch.Count; i++) batch[i].Image.CopyTo(buffer, i * length);
            var outputs = _run(buffer.AsMemory(0, batch.Count * length), [batch.Count, c, h, w], batch[0].Outputs);
            BatchRan?.Invoke(batch.Count);
            for (int i = 0; i < batch.Count; i++)
                batch[i].Result.TrySetResult(outputs.Slice(i, batch.Count));
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

    private void FailQueued()
    {
        List<Item> left;
        lock (_lock)
        {
            left = [.. _queue];
            _queue.Clear();
        }
        foreach (var item in left)
            item.Fail(new InferenceException(ErrorKind.Unavailable, "Model unloading", $"Model '{_model}' is shutting down."));
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock) _stop.Cancel();
        await _worker;
        _stop.Dispose();
        _signal.Dispose();
    }

    /// <summary>
    /// Items leave the waiting count when they start running (or end early: cancelled, refused at shutdown). Returns
    /// the run's span (null when nobody listens), linked to the requests' spans.
    /// </summary>
    private Activity? Started(IReadOnlyList<Item> items, int size, string kind)
    {
        var now = DateTime.UtcNow;
        var oldest = TimeSpan.Zero;
        foreach (var item in items)
        {
            if (Interlocked.Exchange(ref item.Counted, 1) == 0) ChangeWaiting(-1);
            if (now - item.Enqueued > oldest) oldest = now - item.Enqueued;
        }
        _observer?.Started(size, oldest);
        if (!InferenceTracing.Source.HasListeners()) return null;
        var links = items.Where(i => i.Caller is not null).Select(i => new ActivityLink(i.Caller!.Value));
        var activity = InferenceTracing.Source.StartActivity(kind, ActivityKind.Internal, parentContext: default, links: links);
        activity?.SetTag(InferenceTracing.ModelTag, _model);
        activity?.SetTag(InferenceTracing.BatchSizeTag, size);
        activity?.SetTag(InferenceTracing.QueueTimeTag, oldest.TotalMilliseconds);
        return activity;
    }

    private void ChangeWaiting(int delta) => _observer?.Waiting(Interlocked.Add(ref _waiting, delta));

    private abstract class Item
    {
        public int Counted;
        public DateTime Enqueued { get; set; }
        public ActivityContext? Caller { get; set; }
        public LinkedListNode<Item>? Node { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
        public abstract void Cancel(CancellationToken token);
        public abstract void Fail(Exception exception);
    }

    private abstract class Item<TResult> : Item
    {
        public TaskCompletionSource<TResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override void Cancel(CancellationToken token) => Result.TrySetCanceled(token);
        public override void Fail(Exception exception) => Result.TrySetException(exception);
    }

    private sealed class ImageItem(float[] image, (int, int, int) shape, IReadOnlyList<string> outputs) : Item<RunOutputs>
    {
        public float[] Image { get; } = image;
        public (int C, int H, int W) Shape { get; } = shape;
        public IReadOnlyList<string> Outputs { get; } = outputs;

        public bool SharesRunWith(ImageItem other) => Shape == other.Shape && Outputs.SequenceEqual(other.Outputs);
    }

    private sealed class WorkItem(Func<object> work, bool background) : Item<object>
    {
        public bool Background { get; } = background;

        public void Execute(DynamicBatcher batcher)
        {
            Registration.Dispose();
            if (Result.Task.IsCompleted) return; // cancelled while queued
            using var activity = batcher.Started([this], 1, "rff.work");
            try
            {
                Result.TrySetResult(work());
            }
            catch (Exception ex)
            {
                Result.TrySetException(ex);
            }
        }
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
}
