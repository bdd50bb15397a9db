using RffService.Vision.Configuration;

namespace RffService.Vision.Detection;

/// <summary>What the caller asked for: thresholds, how many, which classes.</summary>
/// <param name="Classes">Class indices to keep; null keeps all.</param>
public sealed record DetectionParameters(float ScoreThreshold, float IouThreshold, int MaxDetections, IReadOnlySet<int>? Classes = null)
{
    public bool Wants(int classIndex) => Classes is null || Classes.Contains(classIndex);
}

/// <summary>A detection on the model's input: class index into the labels, score, box as fractions of the input size.</summary>
/// <param name="Prior">The default box it was decoded from (raw SSD outputs), or -1 when the model decoded it itself.</param>
/// <summary>One score of a detector's score output [priors, columns]: the row of a default box and a class's column.</summary>
/// <param name="Probabilities">True when the scores are probabilities already (no softmax over the row).</param>
public sealed record ScoreCell(int Prior, int Column, int Columns, bool Probabilities);

public readonly record struct Candidate(int ClassIndex, float Score, Box Box, int Prior = -1);

/// <summary>Turns one image's slice of a detector's outputs into detections (best first).</summary>
public interface IDetectionDecoder
{
    /// <summary>The model outputs the decoder reads.</summary>
    IReadOnlyList<string> OutputNames { get; }

    /// <summary>
    /// Checks the outputs of a dummy run against the config (shapes, class count) and throws with a reason; returns
    /// whether the outputs have a batch axis (if not, the model runs one image at a time).
    /// </summary>
    bool CheckOutputs(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs);

    List<Candidate> Decode(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs, int image, DetectionParameters parameters);

    /// <summary>
    /// Where a detection's class score lies in the score output (its default box's row, its class's column), for
    /// explanations of that detection; null when the decoder cannot trace a detection back to a score.
    /// </summary>
    ScoreCell? ScoreOf(Candidate candidate);

    static IDetectionDecoder Create(DetectionConfig config, int labels, int inputWidth, int inputHeight) => config.Layout switch
    {
        DetectionConfig.RawLayout => new SsdDecoder(config, labels, inputWidth, inputHeight),
        DetectionConfig.DecodedLayout => new DecodedOutputDecoder(config, labels, inputWidth, inputHeight),
        _ => throw new InvalidDataException($"detection.layout must be '{DetectionConfig.RawLayout}' or '{DetectionConfig.DecodedLayout}', got '{config.Layout}'"),
    };
}
