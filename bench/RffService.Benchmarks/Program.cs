using BenchmarkDotNet.Running;
using RffService.Benchmarks;

// micro [BenchmarkDotNet args]   the micro-benchmarks (e.g. micro --filter '*RffConv*')
// limit [--seconds 5]            in-process throughput limit: decode + ONNX Runtime in a tight loop, no HTTP
// sample-png <file>              one Fashion-MNIST test image as PNG (a request body for the load test)
// optimized-graph                the node types of each default model before and after ONNX Runtime's optimisations
return args.FirstOrDefault() switch
{
    "micro" => RunMicro(args[1..]),
    "limit" => InProcessLimit.Run(args[1..]),
    "sample-png" => SamplePng(args[1]),
    "optimized-graph" => OptimizedGraph.Run(),
    _ => Usage(),
};

static int RunMicro(string[] rest)
{
    BenchmarkSwitcher.FromAssembly(typeof(InProcessLimit).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest);
    return 0;
}

static int SamplePng(string path)
{
    File.WriteAllBytes(path, BenchData.FashionPngs(1)[0]);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/RffService.Benchmarks -- micro|limit|sample-png <file>");
    return 1;
}
