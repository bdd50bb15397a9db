using System.CommandLine;
using RffService.Onnx;

namespace RffService.Training.Commands;

/// <summary>The architecture and random draw of an RFF-CNN, from command-line options.</summary>
/// <param name="Widths">Random features per layer.</param>
/// <param name="Kernels">Kernel side per layer.</param>
/// <param name="Pools">Pooling window after each layer (1 = none).</param>
/// <param name="Sigmas">Bandwidth per layer.</param>
public sealed record RffCnnOptions(int[] Widths, int[] Kernels, int[] Pools, float[] Sigmas, PoolMode Pool, int Grid, int Seed)
{
    /// <summary>The architecture options, added to a command; <see cref="Read"/> gives the record.</summary>
    public sealed class Set
    {
        private readonly Option<int[]> _widths = Opt.Ints("--widths", [64, 512], "random features per RffConv layer");
        private readonly Option<int[]> _kernels = Opt.Ints("--kernels", [5, 3], "kernel side per layer");
        private readonly Option<int[]> _pools = Opt.Ints("--pools", [2, 2], "pooling window after each layer, 1 = none");
        private readonly Option<float[]> _sigmas = Opt.Floats("--sigmas", [5f, 8f], "bandwidth sigma per layer");
        private readonly Option<PoolMode> _pool = Opt.Of("--pool", PoolMode.Average, "pooling between layers: Average or Max");
        private readonly Option<int> _grid = Opt.Of("--grid", 2, "average the last map over a g x g grid before the readout; 1 = global average");
        private readonly Option<int> _seed = Opt.Of("--seed", 1, "seed of the random weights and biases");

        public Set(Command command)
        {
            foreach (var option in new Option[] { _widths, _kernels, _pools, _sigmas, _pool, _grid, _seed }) command.Options.Add(option);
            command.Validators.Add(result =>
            {
                int layers = result.GetValue(_widths)!.Length;
                if (result.GetValue(_kernels)!.Length != layers || result.GetValue(_pools)!.Length != layers || result.GetValue(_sigmas)!.Length != layers)
                    result.AddError("--widths, --kernels, --pools and --sigmas need one value per layer.");
            });
        }

        public RffCnnOptions Read(ParseResult parse) => new(parse.GetValue(_widths)!, parse.GetValue(_kernels)!, parse.GetValue(_pools)!,
            parse.GetValue(_sigmas)!, parse.GetValue(_pool), parse.GetValue(_grid), parse.GetValue(_seed));
    }

    public RffCnnOptions WithSigmas(float[] sigmas) => this with { Sigmas = sigmas };

    /// <summary>Draws the layers: W ~ N(0, 1), B ~ U[0, 2 pi), from the seed; the readout is left empty.</summary>
    public RffCnnSpec Draw(int classes, int height = 28, int width = 28)
    {
        var random = new Random(Seed);
        var layers = new List<RffLayerSpec>();
        int channels = 1;
        for (int i = 0; i < Widths.Length; i++)
        {
            layers.Add(RffLayerSpec.Random(channels, Widths[i], Kernels[i], Sigmas[i], Pools[i], random, normalise: true, Pool));
            channels = Widths[i];
        }
        var spec = new RffCnnSpec(1, height, width, layers, [], new float[classes], Grid);
        return spec with { ReadoutWeights = new float[classes * spec.Features] };
    }

    public string Describe() =>
        string.Join(" -> ", Widths.Select((w, i) => $"RffConv({w}, k{Kernels[i]}, sigma {Sigmas[i]})" + (Pools[i] > 1 ? $" -> {Pool}Pool{Pools[i]}" : "")))
        + $" -> grid {Grid}x{Grid} avg -> linear";
}
