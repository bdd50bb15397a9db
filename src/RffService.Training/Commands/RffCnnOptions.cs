using System.CommandLine;
using RffService.Onnx;
using RffService.Training.Features;

namespace RffService.Training.Commands;

/// <summary>The RFF-CNN architecture options, added to a command; <see cref="Read"/> gives the architecture.</summary>
public sealed class RffCnnOptions
{
    private readonly Option<int[]> _widths = Opt.Ints("--widths", [64, 512], "random features per RffConv layer");
    private readonly Option<int[]> _kernels = Opt.Ints("--kernels", [5, 3], "kernel side per layer");
    private readonly Option<int[]> _pools = Opt.Ints("--pools", [2, 2], "pooling window after each layer, 1 = none");
    private readonly Option<float[]> _sigmas = Opt.Floats("--sigmas", [5f, 8f], "bandwidth sigma per layer");
    private readonly Option<PoolMode> _pool = Opt.Of("--pool", PoolMode.Average, "pooling between layers: Average or Max");
    private readonly Option<int> _grid = Opt.Of("--grid", 2, "average the last map over a g x g grid before the readout; 1 = global average");
    private readonly Option<int> _seed = Opt.Of("--seed", 1, "seed of the random weights and biases");

    public RffCnnOptions(Command command)
    {
        foreach (var option in new Option[] { _widths, _kernels, _pools, _sigmas, _pool, _grid, _seed }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            int layers = result.GetValue(_widths)!.Length;
            if (result.GetValue(_kernels)!.Length != layers || result.GetValue(_pools)!.Length != layers || result.GetValue(_sigmas)!.Length != layers)
                result.AddError("--widths, --kernels, --pools and --sigmas need one value per layer.");
        });
    }

    public RffCnnArchitecture Read(ParseResult parse) => new(parse.GetValue(_widths)!, parse.GetValue(_kernels)!, parse.GetValue(_pools)!,
        parse.GetValue(_sigmas)!, parse.GetValue(_pool), parse.GetValue(_grid), parse.GetValue(_seed));
}
