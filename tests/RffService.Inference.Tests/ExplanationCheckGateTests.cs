using RffService.Inference.Models;

namespace RffService.Inference.Tests;

public class ExplanationCheckGateTests
{
    [Fact]
    public async Task Turns_run_one_at_a_time_in_queue_order_and_promoted_turns_first_in_their_own_order()
    {
        var gate = new ExplanationCheckGate();
        var turns = Enumerable.Range(0, 5).Select(_ => gate.Queue()).ToList();
        await gate.EnterAsync(turns[0], default); // the free gate lets the first in at once
        gate.Promote(turns[3]);
        gate.Promote(turns[2]);
        gate.Promote(turns[0]); // running: nothing to move
        var entered = turns.Skip(1).Select(t => gate.EnterAsync(t, default)).ToList();
        var order = new List<int>();
        for (int k = 0; k < 4; k++)
        {
            Assert.DoesNotContain(entered, t => t.IsCompleted && !order.Contains(entered.IndexOf(t) + 1)); // one at a time
            gate.Release();
            var next = await Task.WhenAny(entered.Where((_, i) => !order.Contains(i + 1))).WaitAsync(TimeSpan.FromSeconds(5));
            order.Add(entered.IndexOf(next) + 1);
        }
        Assert.Equal([3, 2, 1, 4], order);
        Assert.True(gate.Held);
        gate.Release();
        Assert.False(gate.Held);
    }

    [Fact]
    public async Task A_cancelled_wait_leaves_the_queue_and_a_cancelled_granted_turn_hands_the_gate_on()
    {
        var gate = new ExplanationCheckGate();
        gate.Queue(); // a running check
        var cancelled = gate.Queue();
        var last = gate.Queue();
        using var stop = new CancellationTokenSource();
        var waiting = gate.EnterAsync(cancelled, stop.Token);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        gate.Release(); // the running check ends: the cancelled turn is skipped
        await gate.EnterAsync(last, default).WaitAsync(TimeSpan.FromSeconds(5));
        gate.Release();
        Assert.False(gate.Held);

        var granted = gate.Queue(); // the gate is free: granted at once
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.EnterAsync(granted, new CancellationToken(canceled: true)));
        Assert.False(gate.Held); // handed on (to nobody)
    }
}
