using RffService.Inference.Runtime;
using RffService.Vision.Configuration;
using RffService.Vision.Detection;

namespace RffService.Inference.Models;

/// <summary>
/// Checks a freshly loaded session against its config.json with one warm-up run on a blank input: input rank (NCHW, or
/// CHW for a model that takes one image), channels and size; a classifier's output shape against its labels; a
/// detector's outputs against its decoder.
/// </summary>
public static class ModelConformance
{
    /// <summary>Throws with a reason when the model and its config disagree; returns whether runs may hold several images.</summary>
    public static bool Check(ModelSession session, ModelConfig config, IDetectionDecoder? decoder)
    {
        CheckInput(session, config.Input);
        var input = config.Input;
        long[] shape = [1, input.Channels, input.Height, input.Width];
        var blank = new float[input.Channels * input.Height * input.Width];
        if (decoder is not null)
        {
            foreach (var name in decoder.OutputNames)
                if (!session.OutputNames.Contains(name))
                    throw new InvalidDataException($"config.json names output '{name}' but the model's outputs are {string.Join(", ", session.OutputNames)}");
            return decoder.CheckOutputs(session.Run(blank, shape, decoder.OutputNames, report: false)) && session.InputHasBatchAxis && session.FixedBatchSize is null;
        }
        var (_, outputShape) = session.Run(blank, shape, [session.OutputName], report: false)[session.OutputName];
        if (!session.InputHasBatchAxis && outputShape.Length == 1 && outputShape[0] == config.Labels.Count) return false;
        if (outputShape.Length != 2 || outputShape[1] != config.Labels.Count)
            throw new InvalidDataException(
                $"output '{session.OutputName}' has shape [{string.Join(", ", outputShape)}] but config.json lists {config.Labels.Count} labels (expected [1, {config.Labels.Count}])");
        return session.InputHasBatchAxis && session.FixedBatchSize is null;
    }

    private static void CheckInput(ModelSession session, InputConfig input)
    {
        int[] shape = session.InputShape;
        if (session.FixedBatchSize is > 1 and var fixedBatch)
            throw new InvalidDataException($"the model's batch axis is fixed at {fixedBatch} images; export it with a batch of 1 or with " +
                                           $"dynamic_axes={{'{session.InputName}': {{0: 'batch'}}, ...}} for the outputs too");
        if (shape.Length == 3) shape = [1, .. shape]; // one image [C, H, W]
        if (input.ChannelsLast && shape.Length == 4) shape = [shape[0], shape[3], shape[1], shape[2]]; // NHWC, read as NCHW
        if (shape.Length != 4)
            throw new InvalidDataException($"input '{session.InputName}' has rank {shape.Length}; an image input is NCHW (rank 4) or one image CHW (rank 3)");
        Check(shape[1], input.Channels, "channels");
        if (input.DynamicSize && (shape[2] > 0 || shape[3] > 0))
            throw new InvalidDataException($"config.json says input.dynamicSize but the model's input '{session.InputName}' has a fixed size {shape[2]}x{shape[3]}");
        Check(shape[2], input.Height, "height");
        Check(shape[3], input.Width, "width");

        void Check(int actual, int declared, string what)
        {
            if (actual > 0 && actual != declared)
                throw new InvalidDataException($"config.json says input {what} is {declared} but the model's input '{session.InputName}' has {actual}");
        }
    }
}
