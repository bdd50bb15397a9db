namespace RffService.Inference.Models;

/// <summary>
/// Lets one model's explanation check run at a time, so that checks never take more than one model's worth of CPU
/// from serving. Waiting checks take their turn in the order they queued, except that a check a request is waiting
/// for (<see cref="Promote"/>) goes before those nobody has asked for yet: right after a start, the first explanation
/// of a small model does not wait for a large detector's check.
/// </summary>
public sealed class ExplanationCheckGate
{
    private readonly object _lock = new();
    private readonly LinkedList<Turn> _waiting = new();
    private bool _held;

    /// <summary>A place in the queue.</summary>
    public sealed class Turn
    {
        internal readonly TaskCompletionSource Granted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal LinkedListNode<Turn>? Node;
        internal bool Promoted;
    }

    /// <summary>True while a check runs.</summary>
    public bool Held
    {
        get { lock (_lock) return _held; }
    }

    /// <summary>Queues a check; it runs once <see cref="EnterAsync"/> completes (at once when the gate is free).</summary>
    public Turn Queue()
    {
        var turn = new Turn();
        lock (_lock)
        {
            if (_held) turn.Node = _waiting.AddLast(turn);
            else
            {
                _held = true;
                turn.Granted.SetResult();
            }
        }
        return turn;
    }

    /// <summary>Waits for the turn; cancelled, it leaves the queue (or, granted meanwhile, hands the gate on).</summary>
    public async Task EnterAsync(Turn turn, CancellationToken cancellationToken)
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            await turn.Granted.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            bool granted;
            lock (_lock)
            {
                granted = turn.Node is null;
                if (!granted) _waiting.Remove(turn.Node!);
                turn.Node = null;
            }
            if (granted) Release();
            throw;
        }
    }

    /// <summary>Moves a waiting turn ahead of every turn not promoted (promoted turns keep their order).</summary>
    public void Promote(Turn turn)
    {
        lock (_lock)
        {
            if (turn.Node is null || turn.Promoted) return;
            turn.Promoted = true;
            _waiting.Remove(turn.Node);
            var firstNotPromoted = _waiting.First;
            while (firstNotPromoted is { Value.Promoted: true }) firstNotPromoted = firstNotPromoted.Next;
            turn.Node = firstNotPromoted is null ? _waiting.AddLast(turn) : _waiting.AddBefore(firstNotPromoted, turn);
        }
    }

    /// <summary>Ends the running check: the next turn runs.</summary>
    public void Release()
    {
        Turn? next;
        lock (_lock)
        {
            next = _waiting.First?.Value;
            if (next is null) _held = false;
            else
            {
                _waiting.RemoveFirst();
                next.Node = null;
            }
        }
        next?.Granted.SetResult();
    }
}
