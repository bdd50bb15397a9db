using RffService.Vision.Configuration;

namespace RffService.Vision.Detection;

/// <summary>
/// Reads models that decode and suppress in the graph (torchvision / ONNX model zoo SSD style): boxes [N, D, 4],
/// labels [N, D] and scores [N, D] (or the same without the batch axis), box format and units from the config.
/// Only the score threshold, class filter and <c>maxDetections</c> are applied here; NMS was the model's.
/// </summary>
public sealed class DecodedOutputDecoder : IDetectionDecoder
{
    private readonly DetectionConfig _config;
    private readonly int _labels;
    private readonly float _width, _height;

    public DecodedOutputDecoder(DetectionConfig config, int labels, int inputWidth, int inputHeight)
    {
        if (config.BoxFormat is not ("xyxy" or "yxyx"))
            throw new InvalidDataException($"detection.boxFormat must be 'xyxy' or 'yxyx', got '{config.BoxFormat}'");
        _config = config;
        _labels = labels;
        (_width, _height) = config.Normalized ? (1f, 1f) : (inputWidth, inputHeight);
    }

    /// <summary>The graph decoded and suppressed: a detection cannot be traced back to the score that produced it.</summary>
    public ScoreCell? ScoreOf(Candidate candidate) => null;

    public IReadOnlyList<string> OutputNames => [_config.BoxesOutput, _config.LabelsOutput, _config.ScoresOutput];

    public bool CheckOutputs(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs)
    {
        var boxes = outputs[_config.BoxesOutput].Shape;
        if (boxes.Length is not (2 or 3) || boxes[^1] != 4)
            throw new InvalidDataException($"output '{_config.BoxesOutput}' has shape [{string.Join(", ", boxes)}]; expected [N, D, 4] or [D, 4]");
        long count = boxes[^2];
        foreach (var name in new[] { _config.LabelsOutput, _config.ScoresOutput })
        {
            var shape = outputs[name].Shape;
            if (shape.Length != boxes.Length - 1 || shape[^1] != count)
                throw new InvalidDataException($"output '{name}' has shape [{string.Join(", ", shape)}]; it must have one value per box ({count})");
        }
        return boxes.Length == 3;
    }

    public List<Candidate> Decode(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs, int image, DetectionParameters parameters)
    {
        var (boxValues, boxShape) = outputs[_config.BoxesOutput];
        int count = (int)boxShape[^2];
        if (boxShape.Length == 2 && image > 0)
            throw new InvalidOperationException("A model without a batch axis runs one image at a time.");
        var boxes = boxValues.AsSpan(image * count * 4, count * 4);
        var labels = outputs[_config.LabelsOutput].Values.AsSpan(image * count, count);
        var scores = outputs[_config.ScoresOutput].Values.AsSpan(image * count, count);
        bool yFirst = _config.BoxFormat == "yxyx";

        var result = new List<Candidate>();
        for (int d = 0; d < count; d++)
        {
            int label = (int)labels[d] - _config.LabelOffset;
            if (!(scores[d] > parameters.ScoreThreshold) || label < 0 || label >= _labels || !parameters.Wants(label)) continue;
            var b = boxes.Slice(d * 4, 4);
            var box = yFirst ? new Box(b[1] / _width, b[0] / _height, b[3] / _width, b[2] / _height)
                             : new Box(b[0] / _width, b[1] / _height, b[2] / _width, b[3] / _height);
            result.Add(new Candidate(label, scores[d], box));
        }
        return result.OrderByDescending(c => c.Score).Take(parameters.MaxDetections).ToList();
    }
}
