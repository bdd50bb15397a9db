using RffService.Inference.Common;
using RffService.Inference.Pipeline;
using RffService.Onnx.Explanations;
using RffService.Vision;

namespace RffService.Inference.Explanations;

/// <summary>
/// Turns the <see cref="Ablation"/>s of a request into masks and values on the layers' grids for one image: names and
/// indices resolved as /cam resolves layers, top K ranked by positive contribution to the target (sum of ReLU(G) A over
/// the chosen cells), regions mapped from image pixels to the cells whose centres they hold.
/// </summary>
public static class InterventionPlanner
{
    /// <param name="gradients">One explanation run of the un-intervened network at these layers, for the target top K is ranked by.</param>
    /// <param name="blankActivations">The un-intervened network's activations at these layers for the blank image.</param>
    public static async Task<(Explainer Explainer, InterventionReport Report)> PlanAsync(Explainer explainer, IReadOnlyList<Ablation> ablations,
        PreparedImage image, Func<IReadOnlyList<CamLayer>, Task<ExplanationRun>> gradients,
        Func<IReadOnlyList<CamLayer>, Task<IReadOnlyList<float[]>>> blankActivations)
    {
        var layers = ablations.Select(a => CamLayerNames.One(explainer, a.Layer, "ablate")).ToList();
        var distinct = layers.Distinct().ToList();
        List<CamLayer> LayersWhere(Func<Ablation, bool> wanted) => distinct.Where(l => ablations.Where((a, i) => layers[i] == l).Any(wanted)).ToList();
        var rankedLayers = LayersWhere(a => a.Channels is ChannelChoice.Top);
        var ranked = rankedLayers.Count > 0 ? await gradients(rankedLayers) : null;
        var blankLayers = LayersWhere(a => a.Blank);
        var blanks = blankLayers.Count > 0 ? await blankActivations(blankLayers) : [];

        var masks = distinct.ToDictionary(l => l, l => (Mask: new float[l.Channels * l.Height * l.Width], Values: new float[l.Channels * l.Height * l.Width]));
        var applied = new List<AppliedIntervention>();
        for (int i = 0; i < ablations.Count; i++)
        {
            var (ablation, layer) = (ablations[i], layers[i]);
            var cells = Cells(layer, ablation.Region, image);
            int plane = (int)(layer.Height * layer.Width);
            var channels = Channels(layer, ablation.Channels, cells, ranked);
            float[]? blank = ablation.Blank ? blanks[blankLayers.IndexOf(layer)] : null;
            var (mask, values) = masks[layer];
            foreach (int k in channels)
                foreach (int p in cells)
                {
                    mask[k * plane + p] = 1;
                    values[k * plane + p] = blank?[k * plane + p] ?? 0;
                }
            applied.Add(new AppliedIntervention(layer.Name, channels, cells.Count, plane, ablation.Blank ? "blank" : "zero"));
        }
        var view = explainer.Intervened(distinct.Select(l => new LayerIntervention(l, masks[l].Mask, masks[l].Values)).ToList());
        return (view, new InterventionReport(applied));
    }

    /// <summary>The cells of the layer's map (row-major) whose centres, mapped to the original image, lie in the region; all without one.</summary>
    private static List<int> Cells(CamLayer layer, PixelRegion? region, PreparedImage image)
    {
        int height = (int)layer.Height, width = (int)layer.Width;
        if (region is null) return Enumerable.Range(0, height * width).ToList();
        var (imageWidth, imageHeight) = (image.Transform.OriginalWidth, image.Transform.OriginalHeight);
        if (region.X >= imageWidth || region.Y >= imageHeight || region.X + region.Width <= 0 || region.Y + region.Height <= 0)
            throw Invalid("Region outside the image",
                $"The region @{region.X},{region.Y},{region.Width},{region.Height} lies outside the {imageWidth}x{imageHeight} image.");
        var cells = new List<int>();
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (ox, oy) = image.Transform.ToOriginal((x + 0.5f) * image.Spec.Width / width, (y + 0.5f) * image.Spec.Height / height);
                if (ox >= region.X && ox < region.X + region.Width && oy >= region.Y && oy < region.Y + region.Height) cells.Add(y * width + x);
            }
        if (cells.Count == 0)
            throw Invalid("Region holds no cell",
                $"The region @{region.X},{region.Y},{region.Width},{region.Height} holds the centre of none of layer '{layer.Name}''s {width}x{height} cells " +
                $"(about {imageWidth / (float)width:0.#} x {imageHeight / (float)height:0.#} image pixels each): make it larger or choose an earlier layer.");
        return cells;
    }

    private static IReadOnlyList<int> Channels(CamLayer layer, ChannelChoice choice, List<int> cells, ExplanationRun? ranked)
    {
        int count = (int)layer.Channels;
        switch (choice)
        {
            case ChannelChoice.All:
                return Enumerable.Range(0, count).ToList();
            case ChannelChoice.Listed listed:
                foreach (int k in listed.Channels)
                    if (k >= count)
                        throw Invalid("Channel out of range", $"Layer '{layer.Name}' has {count} channels (0..{count - 1}); got channel {k}.");
                return listed.Channels.Order().ToList();
            case ChannelChoice.Top top:
                var (a, g, _) = ranked!.Layers[layer.Tensor];
                int plane = (int)(layer.Height * layer.Width);
                double Contribution(int k) => cells.Sum(p => (double)Math.Max(g[k * plane + p], 0f) * a[k * plane + p]);
                return Enumerable.Range(0, count).OrderByDescending(Contribution).ThenBy(k => k).Take(top.Count).Order().ToList();
            default:
                throw new ArgumentOutOfRangeException(nameof(choice));
        }
    }

    private static InferenceException Invalid(string title, string detail) => new(ErrorKind.InvalidParameter, title, detail);
}
