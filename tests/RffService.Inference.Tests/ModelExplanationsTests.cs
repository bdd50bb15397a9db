using RffService.Inference.Models;
using RffService.Onnx.Explanations;
using RffService.Onnx.Runtime;
using RffService.TestSupport;
using RffService.Vision;

namespace RffService.Inference.Tests;

/// <summary>The explanation engine is prepared in the background: a model serves first, explanations wait for their check within a bound.</summary>
public class ModelExplanationsTests
{
    private static readonly SessionFactory Sessions = new(SessionSettings.Cpu);

    private static ModelExplanations Start(ExplanationCheckGate gate)
    {
        var (model, _, inputShape) = ExporterPatterns.All["stem: Conv + BatchNorm + Relu, then RffConv, GAP, Gemm"]();
        return ModelExplanations.Start(() => Explainer.Discover(model, "x", inputShape, "y", new Dictionary<string, string> { ["rff"] = "rff" }, Sessions),
            (candidates, stop) => Explainer.Check(candidates, Sessions, cancellationToken: stop), gate);
    }

    [Fact]
    public async Task While_the_check_waits_its_turn_requests_get_503_after_the_wait_and_the_engine_once_it_is_done()
    {
        var gate = new ExplanationCheckGate();
        gate.Queue(); // another model's check holds the gate
        await using var explanations = Start(gate);
        Assert.Equal(ExplanationState.Checking, explanations.State);
        Assert.Null(explanations.Explainer);
        var error = await Assert.ThrowsAsync<InferenceException>(() => explanations.ReadyAsync("m", TimeSpan.FromMilliseconds(50), default));
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.False(error.Permanent);

        gate.Release();
        var explainer = await explanations.ReadyAsync("m", TimeSpan.FromMinutes(1), default);
        Assert.Equal(ExplanationState.Ready, explanations.State);
        Assert.Same(explainer, explanations.Explainer);
        Assert.All(explanations.Layers, l => Assert.True(l.Usable, l.Refusal));
        Assert.False(gate.Held); // the gate is handed on
    }

    [Fact]
    public async Task A_model_that_cannot_be_explained_gets_422_with_the_reason()
    {
        await using var explanations = ModelExplanations.Unavailable("the model's input has no batch axis");
        Assert.Equal(ExplanationState.Unavailable, explanations.State);
        var error = await Assert.ThrowsAsync<InferenceException>(() => explanations.ReadyAsync("m", TimeSpan.FromSeconds(1), default));
        Assert.Equal(ErrorKind.InvalidParameter, error.Kind);
        Assert.Contains("no batch axis", error.Message);
    }

    [Fact]
    public async Task Disposing_a_model_whose_check_has_not_started_stops_it_and_leaves_the_gate_alone()
    {
        var gate = new ExplanationCheckGate();
        gate.Queue();
        var explanations = Start(gate);
        await explanations.DisposeAsync();
        Assert.Equal(ExplanationState.Unavailable, explanations.State);
        Assert.Contains("unloaded", explanations.Error);
        Assert.True(gate.Held); // still the other model's
        gate.Release();
        Assert.False(gate.Held); // the stopped check left the queue
    }

    [Fact]
    public async Task A_check_a_request_waits_for_runs_before_checks_queued_earlier()
    {
        var gate = new ExplanationCheckGate();
        gate.Queue(); // another model's check holds the gate
        await using var first = Start(gate);
        await using var second = Start(gate);
        // A request for the second model: it waits briefly (503), and moves the second model's check to the front.
        await Assert.ThrowsAsync<InferenceException>(() => second.ReadyAsync("second", TimeSpan.FromMilliseconds(20), default));
        gate.Release();
        await second.ReadyAsync("second", TimeSpan.FromMinutes(1), default);
        Assert.Equal(ExplanationState.Checking, first.State); // queued first, checked after
        Assert.Empty(first.Layers); // not even discovered yet when the second was done
        await first.Completion;
        Assert.Equal(ExplanationState.Ready, first.State);
    }
}
