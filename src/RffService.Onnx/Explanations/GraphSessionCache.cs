using RffService.Onnx.Proto;
using RffService.Onnx.Runtime;

namespace RffService.Onnx.Explanations;

/// <summary>
/// The ONNX Runtime sessions of derived graphs (explanation graphs and their forward variants), shared by every model
/// of the process and bounded by a memory budget: the least recently used are evicted when a new one would exceed it.
/// A session is disposed once evicted and no longer in use (callers hold a lease while they run it).
/// A session's cost is estimated from its graph: ONNX Runtime keeps the weights, pre-packed copies of them and the
/// arena for intermediate tensors, so <see cref="CostFactor"/> times the serialized graph plus <see cref="CostOverhead"/>.
/// </summary>
public sealed class GraphSessionCache : IDisposable
{
    public const int CostFactor = 4;
    public const long CostOverhead = 1 << 20;

    private readonly object _lock = new();
    private readonly Dictionary<(object Owner, string Key), Node> _entries = new();
    private readonly LinkedList<Node> _recency = new(); // most recent first
    private readonly Dictionary<(object Owner, string Key), Task<Node>> _building = new();

    public GraphSessionCache(long budgetBytes) => BudgetBytes = budgetBytes;

    public long BudgetBytes { get; }
    public long Bytes { get; private set; }
    public int Count { get { lock (_lock) return _entries.Count; } }
    public long Hits { get; private set; }
    public long Misses { get; private set; }
    public long Evictions { get; private set; }

    /// <summary>Estimated memory of a session of <paramref name="graph"/>.</summary>
    public static long Cost(ModelProto graph) => CostFactor * (long)graph.CalculateSize() + CostOverhead;

    /// <summary>
    /// The session for <paramref name="key"/> of <paramref name="owner"/>, built from <paramref name="build"/> on a miss.
    /// Dispose the lease when the run is done. Concurrent misses of one key build it once.
    /// </summary>
    public Lease Rent(object owner, string key, Func<ModelProto> build, SessionFactory sessions)
    {
        Task<Node> pending;
        bool builder = false;
        TaskCompletionSource<Node>? source = null;
        lock (_lock)
        {
            if (_entries.TryGetValue((owner, key), out var known))
            {
                Hits++;
                Touch(known);
                return new Lease(this, known);
            }
            Misses++;
            if (!_building.TryGetValue((owner, key), out pending!))
            {
                source = new TaskCompletionSource<Node>(TaskCreationOptions.RunContinuationsAsynchronously);
                pending = source.Task;
                _building[(owner, key)] = pending;
                builder = true;
            }
        }
        if (!builder) return Join(pending.GetAwaiter().GetResult());
        try
        {
            var graph = build();
            var node = new Node(owner, key, sessions.Create(graph), Cost(graph));
            lock (_lock)
            {
                _building.Remove((owner, key));
                _entries[(owner, key)] = node;
                node.Link = _recency.AddFirst(node);
                Bytes += node.Bytes;
                node.Users++; // the builder's own lease, before anything can evict it
                EvictOverBudget();
            }
            source!.SetResult(node);
            return new Lease(this, node);
        }
        catch (Exception ex)
        {
            lock (_lock) _building.Remove((owner, key));
            source!.SetException(ex);
            throw;
        }
    }

    private Lease Join(Node node)
    {
        lock (_lock)
        {
            if (node.Disposed) throw new ObjectDisposedException(nameof(GraphSessionCache), "the graph was evicted while it was being built");
            Touch(node);
            return new Lease(this, node);
        }
    }

    /// <summary>Drops every session of <paramref name="owner"/> (a model version that is being disposed).</summary>
    public void Remove(object owner)
    {
        lock (_lock)
            foreach (var node in _entries.Values.Where(n => n.Owner == owner).ToList()) Evict(node, counted: false);
    }

    // Under the lock: marks use and moves to the front.
    private void Touch(Node node)
    {
        node.Users++;
        if (node.Link is { } link)
        {
            _recency.Remove(link);
            _recency.AddFirst(link);
        }
    }

    private void EvictOverBudget()
    {
        while (Bytes > BudgetBytes && _recency.Count > 1 && _recency.Last!.Value is { } oldest) Evict(oldest, counted: true);
    }

    private void Evict(Node node, bool counted)
    {
        _entries.Remove((node.Owner, node.Key));
        if (node.Link is { } link) _recency.Remove(link);
        node.Link = null;
        Bytes -= node.Bytes;
        if (counted) Evictions++;
        node.Evicted = true;
        if (node.Users == 0) node.DisposeSession();
    }

    private void Release(Node node)
    {
        lock (_lock)
        {
            node.Users--;
            if (node.Users == 0 && node.Evicted) node.DisposeSession();
        }
    }

    public void Dispose()
    {
        lock (_lock)
            foreach (var node in _entries.Values.ToList()) Evict(node, counted: false);
    }

    /// <summary>A session in use: disposing the lease lets the cache dispose an evicted session.</summary>
    public sealed class Lease(GraphSessionCache cache, Node node) : IDisposable
    {
        private int _released;
        public OrtSession Session => node.Session;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) cache.Release(node);
        }
    }

    public sealed class Node(object owner, string key, OrtSession session, long bytes)
    {
        internal object Owner { get; } = owner;
        internal string Key { get; } = key;
        internal OrtSession Session { get; } = session;
        internal long Bytes { get; } = bytes;
        internal int Users { get; set; }
        internal bool Evicted { get; set; }
        internal bool Disposed { get; private set; }
        internal LinkedListNode<Node>? Link { get; set; }

        internal void DisposeSession()
        {
            if (Disposed) return;
            Disposed = true;
            Session.Dispose();
        }
    }
}
