using RffService.Vision.Configuration;
using RffService.Vision.Postprocessing;

namespace RffService.Vision.Detection;

/// <summary>
/// Post-processing of raw SSD outputs: softmax over the K + 1 scores of every prior, a score threshold per class,
/// decoding of the surviving priors' offsets, per-class NMS and the best <c>maxDetections</c> across classes.
/// </summary>
public sealed class SsdDecoder : IDetectionDecoder
{
    /// <summary>At most this many candidates per class go into NMS (the highest scores), as SSD's top-k before NMS.</summary>
    public const int MaxCandidatesPerClass = 400;

    private readonly DetectionConfig _config;
    private readonly int _labels;
    private readonly float[] _priors;
    private readonly BoxCoder _coder;

    public SsdDecoder(DetectionConfig config, int labels, int inputWidth = 0, int inputHeight = 0)
    {
        if (config.Variances.Count != 4 || config.Variances.Any(v => !(v > 0)))
            throw new InvalidDataException("detection.variances must hold 4 positive values");
        if (config.BackgroundClass < 0 || config.BackgroundClass > labels)
            throw new InvalidDataException($"detection.backgroundClass must be between 0 and {labels}");
        _config = config;
        _labels = labels;
        _priors = PriorGenerator.Generate(config.Priors, inputWidth, inputHeight);
        if (_priors.Length == 0) throw new InvalidDataException("detection.priors describes no default boxes");
        _coder = new BoxCoder(config.Variances);
    }

    public int PriorCount => _priors.Length / 4;
    public ReadOnlySpan<float> Priors => _priors;
    public IReadOnlyList<string> OutputNames => [_config.ScoresOutput, _config.BoxesOutput];

    /// <summary>The column of a label's score in a prior's row of K + 1 scores (the background column skipped).</summary>
    public int ScoreColumn(int label) => label < _config.BackgroundClass ? label : label + 1;

    public ScoreCell? ScoreOf(Candidate candidate) =>
        candidate.Prior < 0 ? null : new ScoreCell(candidate.Prior, ScoreColumn(candidate.ClassIndex), _labels + 1, _config.ScoresAreProbabilities);

    public bool CheckOutputs(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs)
    {
        var scores = outputs[_config.ScoresOutput].Shape;
        var boxes = outputs[_config.BoxesOutput].Shape;
        if (scores.Length != 3 || scores[1] != PriorCount || scores[2] != _labels + 1)
            throw new InvalidDataException($"output '{_config.ScoresOutput}' has shape [{string.Join(", ", scores)}]; the config's {PriorCount} priors and " +
                                           $"{_labels} labels need [N, {PriorCount}, {_labels + 1}]");
        if (boxes.Length != 3 || boxes[1] != PriorCount || boxes[2] != 4)
            throw new InvalidDataException($"output '{_config.BoxesOutput}' has shape [{string.Join(", ", boxes)}]; expected [N, {PriorCount}, 4]");
        return true;
    }

    public List<Candidate> Decode(IReadOnlyDictionary<string, (float[] Values, long[] Shape)> outputs, int image, DetectionParameters parameters)
    {
        int classes = _labels + 1, priors = PriorCount;
        var scores = outputs[_config.ScoresOutput].Values.AsSpan(image * priors * classes, priors * classes);
        var offsets = outputs[_config.BoxesOutput].Values.AsSpan(image * priors * 4, priors * 4);

        var perClass = new List<(int Prior, float Score)>[_labels];
        var probabilities = new float[classes];
        for (int p = 0; p < priors; p++)
        {
            var row = scores.Slice(p * classes, classes);
            if (_config.ScoresAreProbabilities) row.CopyTo(probabilities);
            else Softmax.Apply(row, probabilities);
            for (int c = 0; c < classes; c++)
            {
                if (c == _config.BackgroundClass) continue;
                int label = c < _config.BackgroundClass ? c : c - 1;
                if (probabilities[c] > parameters.ScoreThreshold && parameters.Wants(label))
                    (perClass[label] ??= []).Add((p, probabilities[c]));
            }
        }

        // All classes go through one NMS: each class's boxes are shifted by 4 x class so boxes of different classes
        // never overlap (torchvision's batched_nms), and the candidates are sorted once.
        var boxes = new List<Box>();
        var shifted = new List<Box>();
        var candidateScores = new List<float>();
        var labels = new List<int>();
        var fromPrior = new List<int>();
        for (int label = 0; label < _labels; label++)
        {
            if (perClass[label] is not { } list) continue;
            foreach (var (prior, score) in list.OrderByDescending(c => c.Score).ThenBy(c => c.Prior).Take(MaxCandidatesPerClass))
            {
                var box = _coder.Decode(offsets.Slice(prior * 4, 4), _priors.AsSpan(prior * 4, 4)).Clip(1, 1);
                float shift = 4f * label;
                boxes.Add(box);
                shifted.Add(new Box(box.XMin + shift, box.YMin + shift, box.XMax + shift, box.YMax + shift));
                candidateScores.Add(score);
                labels.Add(label);
                fromPrior.Add(prior);
            }
        }
        var scoreArray = candidateScores.ToArray();
        List<int> kept;
        if (_config.CrossClassIou is { } crossClass)
        {
            // One object, one label: the boxes each class keeps, suppressed again across classes (unshifted), best first.
            var eachClass = NonMaxSuppression.Apply(shifted, scoreArray, parameters.IouThreshold);
            kept = NonMaxSuppression.Apply(eachClass.Select(i => boxes[i]).ToList(), eachClass.Select(i => scoreArray[i]).ToArray(), crossClass,
                parameters.MaxDetections).Select(k => eachClass[k]).ToList();
        }
        else kept = NonMaxSuppression.Apply(shifted, scoreArray, parameters.IouThreshold, parameters.MaxDetections);
        return kept.Select(i => new Candidate(labels[i], candidateScores[i], boxes[i], fromPrior[i])).ToList();
    }
}
