using Microsoft.ML.OnnxRuntime;
using RffService.Onnx.Proto;

namespace RffService.Onnx.Runtime;

/// <summary>Where sessions run: <c>Cpu</c>; <c>Cuda</c> (fails when CUDA cannot be used); <c>Auto</c> (CUDA when it can be used, else CPU).</summary>
public enum ExecutionProviderMode
{
    Auto,
    Cuda,
    Cpu,
}

/// <summary>How every ONNX Runtime session of a process is made.</summary>
/// <param name="IntraOpThreads">Threads per session; 0 lets ONNX Runtime choose (one per core).</param>
public sealed record SessionSettings(ExecutionProviderMode Mode = ExecutionProviderMode.Cpu, int CudaDeviceId = 0, int IntraOpThreads = 0)
{
    public static SessionSettings Cpu { get; } = new();
}

/// <summary>A session and the execution provider it runs on.</summary>
public sealed record OrtSession(InferenceSession Session, string ExecutionProvider) : IDisposable
{
    public void Dispose() => Session.Dispose();
}

/// <summary>
/// The one place ONNX Runtime sessions are created (the service's models, their explanation graphs, the trainer's
/// feature and solver graphs), so every session gets the same optimisation level, threads, logging and provider.
/// In <see cref="ExecutionProviderMode.Auto"/> a missing CUDA provider falls back to the CPU, reported once.
/// </summary>
public sealed class SessionFactory(SessionSettings settings, Action<string>? onCpuFallback)
{
    public const string Cpu = "CPUExecutionProvider";
    public const string Cuda = "CUDAExecutionProvider";

    private int _fallbackReported;

    /// <summary>
    /// ONNX Runtime's process-wide environment, with its telemetry switched off before any session exists: a server
    /// sends nothing home and writes nothing outside its configured folders.
    /// </summary>
    public static OrtEnv Environment => Env.Value;

    private static readonly Lazy<OrtEnv> Env = new(() =>
    {
        // Outside Windows, ONNX Runtime reads ORT_DISABLE_TELEMETRY from the native environment when it starts (no
        // uploader, device identifier or offline cache under HOME); .NET's SetEnvironmentVariable does not reach it.
        if (!OperatingSystem.IsWindows()) _ = SetNativeEnvironment("ORT_DISABLE_TELEMETRY", "1", overwrite: 0);
        var env = OrtEnv.Instance();
        env.DisableTelemetryEvents();
        return env;
    });

    public SessionFactory(SessionSettings settings) : this(settings, null) { }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetNativeEnvironment(string name, string value, int overwrite);

    public SessionSettings Settings => settings;

    public OrtSession Create(ModelProto model) => Create(OnnxModelFile.ToBytes(model));

    public OrtSession Create(byte[] model)
    {
        _ = Environment;
        var (options, provider) = Options();
        using (options) return new OrtSession(new InferenceSession(model, options), provider);
    }

    private (SessionOptions Options, string Provider) Options()
    {
        if (settings.Mode == ExecutionProviderMode.Cpu) return (NewOptions(), Cpu);
        var options = NewOptions();
        try
        {
            if (!Environment.GetAvailableProviders().Contains(Cuda))
                throw new InvalidOperationException("this ONNX Runtime build has no CUDA execution provider (build with -p:OnnxRuntimeFlavor=Gpu)");
            options.AppendExecutionProvider_CUDA(settings.CudaDeviceId);
            return (options, Cuda);
        }
        catch (Exception ex) when (settings.Mode == ExecutionProviderMode.Auto && ex is not OutOfMemoryException)
        {
            options.Dispose();
            if (Interlocked.Exchange(ref _fallbackReported, 1) == 0) onCpuFallback?.Invoke(ex.Message);
            return (NewOptions(), Cpu);
        }
    }

    private SessionOptions NewOptions() => new()
    {
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        IntraOpNumThreads = settings.IntraOpThreads,
        LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
    };
}
