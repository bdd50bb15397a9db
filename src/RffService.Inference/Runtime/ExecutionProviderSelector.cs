using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;

namespace RffService.Inference.Runtime;

/// <summary>
/// Creates ONNX Runtime session options for the configured execution provider:
/// <c>cpu</c>; <c>cuda</c> (fails when CUDA cannot be used); <c>auto</c> (CUDA when it can be used, else CPU,
/// said once in the log).
/// </summary>
public sealed class ExecutionProviderSelector(IOptions<InferenceOptions> options, ILogger<ExecutionProviderSelector> logger)
{
    public const string Cpu = "CPUExecutionProvider";
    public const string Cuda = "CUDAExecutionProvider";

    private readonly InferenceOptions _options = options.Value;
    private int _fallbackLogged;

    /// <summary>Session options plus the name of the provider they select.</summary>
    public (SessionOptions Options, string Provider) Create()
    {
        string mode = _options.ExecutionProvider.ToLowerInvariant();
        if (mode == "cpu") return (NewOptions(), Cpu);

        var sessionOptions = NewOptions();
        try
        {
            if (!OrtEnv.Instance().GetAvailableProviders().Contains(Cuda))
                throw new InvalidOperationException("this ONNX Runtime build has no CUDA execution provider (build with -p:OnnxRuntimeFlavor=Gpu)");
            sessionOptions.AppendExecutionProvider_CUDA(_options.CudaDeviceId);
            return (sessionOptions, Cuda);
        }
        catch (Exception ex) when (mode == "auto")
        {
            sessionOptions.Dispose();
            if (Interlocked.Exchange(ref _fallbackLogged, 1) == 0)
                logger.LogInformation("CUDA is not available ({Reason}); running models on the CPU", ex.Message);
            return (NewOptions(), Cpu);
        }
    }

    private SessionOptions NewOptions() => new()
    {
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        IntraOpNumThreads = _options.IntraOpThreads,
        LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
    };
}
