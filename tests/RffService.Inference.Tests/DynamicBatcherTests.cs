using RffService.Inference.Batching;
using RffService.Inference.Runtime;
using RffService.TestSupport;
using RffService.Vision.Configuration;
using RffService.Vision;

namespace RffService.Inference.Tests;

public class DynamicBatcherTests
{
    /// <summary>A runner that records each batch's shape and answers each image with its own sum, optionally held at a gate.</summary>
    private sealed class RecordingRunner
    {
        public ManualResetEventSlim Gate { get; } = new(true);
        public SemaphoreSlim Entered { get; } = new(0);
        public List<long[]> Shapes { get; } = [];

        public RunOutputs Run(Memory<float> input, long[] shape, IReadOnlyList<string> outputs)
        {
            Entered.Release();
            Gate.Wait(TimeSpan.FromSeconds(30));
            lock (Shapes) Shapes.Add(shape);
            int n = (int)shape[0], per = input.Length / n;
            var sums = new float[n];
            for (int i = 0; i < n; i++) sums[i] = input.Span.Slice(i * per, per).ToArray().Sum();
            return new RunOutputs(1) { ["sum"] = (sums, [n, 1]) };
        }
    }

    private static BatchingOptions Settings(int maxBatch = 8, int delayMicroseconds = 20_000, int maxQueue = 100) =>
        new() { MaxBatchSize = maxBatch, MaxQueueDelayMicroseconds = delayMicroseconds, MaxQueueSize = maxQueue, WaitWhenIdle = true };

    private static readonly string[] Sum = ["sum"];

    private static float[] Image(float value, int length = 4) => Enumerable.Repeat(value, length).ToArray();

    [Fact]
    public async Task Concurrent_callers_share_runs_and_each_gets_its_own_result()
    {
        var runner = new RecordingRunner();
        await using var batcher = new DynamicBatcher("m", runner.Run, Settings());
        runner.Gate.Reset();
        var first = batcher.InferAsync(Image(0), (1, 2, 2), Sum);
        await runner.Entered.WaitAsync(TimeSpan.FromSeconds(10)); // the worker is busy with the first image
        var rest = Enumerable.Range(1, 12).Select(i => batcher.InferAsync(Image(i), (1, 2, 2), Sum)).ToArray();
        runner.Gate.Set();

        var results = await Task.WhenAll(rest.Prepend(first));

        for (int i = 0; i < results.Length; i++)
        {
            Assert.Equal(4f * i, results[i]["sum"].Values.Single());
            Assert.Equal([1L, 1], results[i]["sum"].Shape);
        }
        // The twelve that queued behind the first ran in batches of at most 8: 8 + 4.
        Assert.Equal([1L, 8, 4], runner.Shapes.Select(s => s[0]));
    }

    [Fact]
    public async Task Background_work_yields_to_requests_queued_after_it_but_is_not_starved()
    {
        var runner = new RecordingRunner();
        var order = new List<string>(); // what the worker ran, in order
        await using var batcher = new DynamicBatcher("m", (input, shape, outputs) =>
        {
            var result = runner.Run(input, shape, outputs);
            lock (order) order.Add($"i{result["sum"].Values[0] / 4}");
            return result;
        }, Settings(maxBatch: 1, delayMicroseconds: 0));
        runner.Gate.Reset();
        var busy = batcher.InferAsync(Image(0), (1, 2, 2), Sum);
        await runner.Entered.WaitAsync(TimeSpan.FromSeconds(10)); // the worker is busy: everything below queues
        var background = Enumerable.Range(0, 2).Select(i => batcher.RunAsync(() => { lock (order) order.Add($"b{i}"); return i; }, background: true)).ToList();
        var images = Enumerable.Range(1, 6).Select(i => batcher.InferAsync(Image(i), (1, 2, 2), Sum)).ToList();
        runner.Gate.Set();
        await busy;
        await Task.WhenAll(background);
        await Task.WhenAll(images);

        // The images queued after the background work run first, but after ForegroundRunsPerBackground of them the
        // oldest background work gets its turn; the rest runs when nothing else waits.
        int first = order.IndexOf("b0"), second = order.IndexOf("b1");
        Assert.Equal(DynamicBatcher.ForegroundRunsPerBackground, order.Take(first).Count(o => o.StartsWith('i') && o != "i0"));
        Assert.True(second > first, string.Join(" ", order));
        Assert.Equal(7, order.Count(o => o.StartsWith('i')));
    }

    [Fact]
    public async Task A_lone_request_runs_at_once_and_waits_only_while_others_are_on_the_way()
    {
        var runner = new RecordingRunner();
        var settings = Settings(delayMicroseconds: 5_000_000);
        settings.WaitWhenIdle = false;
        await using var batcher = new DynamicBatcher("m", runner.Run, settings);

        var lone = batcher.InferAsync(Image(1), (1, 2, 2), Sum);
        Assert.True(await Task.WhenAny(lone, Task.Delay(2000)) == lone, "a lone request waited for company");

        // Two requests on the way: the first waits for the second and they share one run.
        var first = batcher.Incoming();
        var second = batcher.Incoming();
        var a = batcher.InferAsync(Image(2), (1, 2, 2), Sum);
        first.Dispose();
        var b = batcher.InferAsync(Image(3), (1, 2, 2), Sum);
        second.Dispose();
        await Task.WhenAll(a, b);
        // One run of two: the first waited for the second (alone it would have run at once, giving runs of 1, 1, 1).
        Assert.Equal([1L, 2], runner.Shapes.Select(s => s[0]));
    }

    [Fact]
    public async Task Different_shapes_never_share_a_run()
    {
        var runner = new RecordingRunner();
        await using var batcher = new DynamicBatcher("m", runner.Run, Settings());
        runner.Gate.Reset();
        var blocker = batcher.InferAsync(Image(1), (1, 2, 2), Sum);
        await runner.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var mixed = Enumerable.Range(0, 10).Select(i => i % 2 == 0 ? batcher.InferAsync(Image(1, 4), (1, 2, 2), Sum) : batcher.InferAsync(Image(1, 9), (1, 3, 3), Sum)).ToArray();
        runner.Gate.Set();

        var results = await Task.WhenAll(mixed);

        for (int i = 0; i < 10; i++) Assert.Equal(i % 2 == 0 ? 4f : 9f, results[i]["sum"].Values.Single());
        Assert.All(runner.Shapes.Skip(1), s => Assert.Equal(5, s[0]));
        Assert.Equal(2, runner.Shapes.Skip(1).Select(s => s[2]).Distinct().Count());
        await blocker;
    }

    [Fact]
    public async Task A_full_queue_refuses_at_once_with_unavailable()
    {
        var runner = new RecordingRunner();
        await using var batcher = new DynamicBatcher("m", runner.Run, Settings(maxBatch: 1, maxQueue: 2));
        runner.Gate.Reset();
        var running = batcher.InferAsync(Image(1), (1, 2, 2), Sum);
        await runner.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var queued = new[] { batcher.InferAsync(Image(2), (1, 2, 2), Sum), batcher.InferAsync(Image(3), (1, 2, 2), Sum) };

        var refused = Assert.Throws<InferenceException>(() => { _ = batcher.InferAsync(Image(4), (1, 2, 2), Sum); });

        Assert.Equal(ErrorKind.Unavailable, refused.Kind);
        Assert.Equal(2, batcher.QueueLength);
        runner.Gate.Set();
        await Task.WhenAll(queued.Append(running));
        Assert.Equal(0, batcher.QueueLength);
    }

    [Fact]
    public async Task A_cancelled_request_leaves_the_queue_and_is_not_run()
    {
        var runner = new RecordingRunner();
        await using var batcher = new DynamicBatcher("m", runner.Run, Settings());
        runner.Gate.Reset();
        var running = batcher.InferAsync(Image(1), (1, 2, 2), Sum);
        await runner.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        using var cancel = new CancellationTokenSource();
        var kept = batcher.InferAsync(Image(2), (1, 2, 2), Sum);
        var abandoned = batcher.InferAsync(Image(3), (1, 2, 2), Sum, cancel.Token);
        Assert.Equal(2, batcher.QueueLength);

        cancel.Cancel();

        Assert.Equal(1, batcher.QueueLength);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        runner.Gate.Set();
        Assert.Equal(8f, (await kept)["sum"].Values.Single());
        await running;
        Assert.Equal([1L, 1], runner.Shapes.Select(s => s[0]));
    }

    [Fact]
    public async Task Disposing_fails_what_is_still_queued_and_refuses_new_work()
    {
        var runner = new RecordingRunner();
        var batcher = new DynamicBatcher("m", runner.Run, Settings(maxBatch: 1));
        runner.Gate.Reset();
        var running = batcher.InferAsync(Image(1), (1, 2, 2), Sum);
        await runner.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var queued = batcher.InferAsync(Image(2), (1, 2, 2), Sum);

        var disposing = batcher.DisposeAsync().AsTask();
        runner.Gate.Set();
        await disposing;

        await running;
        var error = await Assert.ThrowsAsync<InferenceException>(() => queued);
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.Throws<InferenceException>(() => { _ = batcher.InferAsync(Image(3), (1, 2, 2), Sum); });
    }

    [Fact]
    public async Task A_models_config_overrides_the_service_batching_defaults()
    {
        using var models = new TestModelRepository()
            .AddModel("one", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig() with { Batching = new BatchingConfig { MaxBatchSize = 1, MaxQueueSize = 7 } })
            .AddModel("off", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig() with { Batching = new BatchingConfig { Enabled = false } })
            .AddModel("default", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig());
        await using var services = TestServices.Load(models.Root, configure: o => o.Batching = Settings(maxBatch: 16, maxQueue: 100));

        Assert.Equal(1, services.Model("one").Runtime!.Batcher!.Settings.MaxBatchSize);
        Assert.Equal(7, services.Model("one").Runtime!.Batcher!.Settings.MaxQueueSize);
        Assert.Null(services.Model("off").Runtime!.Batcher);
        Assert.Equal(16, services.Model("default").Runtime!.Batcher!.Settings.MaxBatchSize);
    }

    [Fact]
    public async Task Batched_classification_equals_unbatched_for_mixed_concurrent_requests()
    {
        using var models = new TestModelRepository()
            .AddModel("tiny", TestModelRepository.TinySpec(), TestModelRepository.TinyConfig())
            .AddModel("rgb", TestModelRepository.TinySpec(channels: 3), TestModelRepository.TinyConfig(channels: 3, resize: "letterbox"));
        await using var batchedServices = TestServices.Load(models.Root, configure: o => o.Batching = Settings(maxBatch: 16, delayMicroseconds: 5000));
        await using var plainServices = TestServices.Load(models.Root, configure: o => o.Batching = new BatchingOptions { Enabled = false });
        Assert.NotNull(batchedServices.Model("tiny").Runtime!.Batcher);
        Assert.Null(plainServices.Model("tiny").Runtime!.Batcher);
        var batched = batchedServices.Classifier;
        var plain = plainServices.Classifier;
        var sizes = new List<int>();
        batchedServices.Model("tiny").Runtime!.Batcher!.BatchRan += size => { lock (sizes) sizes.Add(size); };

        // 40 concurrent requests of one or two images, of different sizes and formats, to two models.
        var requests = Enumerable.Range(0, 40).Select(i => (
            Model: i % 3 == 0 ? "rgb" : "tiny",
            Images: (IReadOnlyList<ReadOnlyMemory<byte>>)Enumerable.Range(0, 1 + i % 2)
                .Select(j => (ReadOnlyMemory<byte>)(j == 0 ? TestImages.Png(10 + i, 12 + i) : TestImages.Jpeg(30, 20 + i))).ToArray())).ToArray();
        var results = await Task.WhenAll(requests.Select(r => Task.Run(() => batched.ClassifyAsync(r.Images, r.Model, 3))));

        for (int i = 0; i < requests.Length; i++)
        {
            var expected = await plain.ClassifyAsync(requests[i].Images, requests[i].Model, 3);
            Assert.Equal(expected.Count, results[i].Count);
            for (int j = 0; j < expected.Count; j++)
            {
                Assert.Equal(expected[j].ImageId, results[i][j].ImageId);
                Assert.Equal(expected[j].Predictions.Select(p => p.Index), results[i][j].Predictions.Select(p => p.Index));
                for (int k = 0; k < 3; k++)
                    Assert.Equal(expected[j].Predictions[k].Probability, results[i][j].Predictions[k].Probability, 5);
            }
        }
        Assert.Equal(requests.Where(r => r.Model == "tiny").Sum(r => r.Images.Count), sizes.Sum());
    }
}
