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

    /// <summary>Model used by /classify when the request names none.</summary>
    public string DefaultClassificationModel { get; set; } = "rff-cnn-fashion";
}
