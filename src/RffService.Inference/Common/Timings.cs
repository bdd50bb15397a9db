namespace RffService.Inference.Common;

/// <summary>Where the time of one request went, in milliseconds.</summary>
/// <param name="DecodeMs">Decoding and pre-processing of this image.</param>
/// <param name="InferenceMs">Waiting in the model's queue and the ONNX Runtime run (shared by the images of one batch).</param>
/// <param name="TotalMs">From the start of the service call to the result.</param>
public sealed record Timings(double DecodeMs, double InferenceMs, double TotalMs)
{
    public static double Round(double ms) => Math.Round(ms, 3);
}
