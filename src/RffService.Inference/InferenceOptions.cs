using System.ComponentModel.DataAnnotations;

namespace RffService.Inference;

/// <summary>Settings of the inference core (configuration section "Inference").</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>Model repository root: models/&lt;name&gt;/config.json and models/&lt;name&gt;/&lt;version&gt;/model.onnx.</summary>
    [Required]
    public string ModelsPath { get; set; } = "models";

    /// <summary>auto (CUDA when available, else CPU), cuda, or cpu.</summary>
    [RegularExpression("^(auto|cuda|cpu)$", ErrorMessage = "ExecutionProvider must be auto, cuda or cpu.")]
    public string ExecutionProvider { get; set; } = "auto";

    [Range(0, 64)]
    public int CudaDeviceId { get; set; }

    /// <summary>ONNX Runtime intra-op threads per session; 0 lets ONNX Runtime choose (one per core).</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>Largest image accepted, in pixels (width x height), checked from the header before decoding.</summary>
    [Range(1, 1_000_000_000)]
    public long MaxImagePixels { get; set; } = 40_000_000;

    /// <summary>Most images in one request.</summary>
    [Range(1, 1024)]
    public int MaxBatchImages { get; set; } = 32;

    /// <summary>Dynamic batching defaults (a model's config.json may override them).</summary>
    public Batching.BatchingOptions Batching { get; set; } = new();

    /// <summary>How often the repository is checked for new or changed models (0 = never; POST /admin/models/reload still works).</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a replaced model version stays alive for the requests that started on it.</summary>
    public TimeSpan RetireDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>/health/ready: "any" (at least one model ready, failed ones reported) or "all" (every model must be ready).</summary>
    [RegularExpression("^(any|all)$", ErrorMessage = "ReadyPolicy must be any or all.")]
    public string ReadyPolicy { get; set; } = "any";

    /// <summary>
    /// Memory budget, in MiB, of the explanation graphs' sessions of all models together (least recently used evicted
    /// beyond it; each estimated from its graph's size).
    /// </summary>
    [Range(1, 1_048_576)]
    public int ExplanationGraphBudgetMB { get; set; } = 128;

    /// <summary>How long an explanation request waits for its model's layers to be checked (after start or reload) before 503 with Retry-After.</summary>
    public TimeSpan ExplanationCheckWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most model passes (one image through the model) one explanation may cost: Score-CAM and Ablation-CAM score one
    /// pass per channel and layer, faithfulness adds 18. Beyond it the request is refused at once (422).
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxExplanationPasses { get; set; } = 1024;

    /// <summary>
    /// /cam's overlay of an image whose short side is under this many pixels is drawn enlarged by a whole factor
    /// (nearest neighbour) so that people can read it; the heatmap PNG and values keep the original size. 0: never.
    /// </summary>
    [Range(0, 2048)]
    public int CamOverlayMinimumSide { get; set; } = 256;

    /// <summary>How this service's ONNX Runtime sessions are made.</summary>
    public RffService.Onnx.Runtime.SessionSettings SessionSettings() => new(
        ExecutionProvider.ToLowerInvariant() switch
        {
            "cuda" => RffService.Onnx.Runtime.ExecutionProviderMode.Cuda,
            "cpu" => RffService.Onnx.Runtime.ExecutionProviderMode.Cpu,
            _ => RffService.Onnx.Runtime.ExecutionProviderMode.Auto,
        },
        CudaDeviceId, IntraOpThreads);

    /// <summary>Model used by /classify when the request names none.</summary>
    public string DefaultClassificationModel { get; set; } = "rff-cnn-fashion-gap";
}
