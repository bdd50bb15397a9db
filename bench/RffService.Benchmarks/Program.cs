using System.CommandLine;
using System.Globalization;
using BenchmarkDotNet.Running;
using RffService.Benchmarks.Explanations;
using RffService.Benchmarks;
using RffService.Training.Commands;
using RffService.Training.Data;
using RffService.Training.Evaluation;

// Benchmarks and measurements that need the service's inference core in process (the trainer does not reference it).
var root = new RootCommand("RffService benchmarks and in-process measurements");

var micro = new Command("micro", "BenchmarkDotNet micro-benchmarks; extra arguments go to BenchmarkDotNet (e.g. --filter '*RffConv*')")
{
    TreatUnmatchedTokensAsErrors = false,
};
micro.SetAction(parse =>
{
    var rest = parse.UnmatchedTokens.ToArray();
    BenchmarkSwitcher.FromAssembly(typeof(InProcessLimit).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest);
    return 0;
});
root.Subcommands.Add(micro);

var seconds = Opt.Of("--seconds", 5.0, "seconds per batch size");
var limit = new Command("limit", "in-process throughput limit: decode + ONNX Runtime in a tight loop, no HTTP") { seconds };
limit.SetAction(parse => InProcessLimit.Run(parse.GetValue(seconds)));
root.Subcommands.Add(limit);

var file = new Argument<string>("file") { Description = "PNG to write" };
var samplePng = new Command("sample-png", "one Fashion-MNIST test image as PNG (a request body for the load test)") { file };
samplePng.SetAction(parse => File.WriteAllBytes(parse.GetValue(file)!, BenchData.FashionPngs(1)[0]));
root.Subcommands.Add(samplePng);

var optimized = new Command("optimized-graph", "the node types of each default model before and after ONNX Runtime's optimisations");
optimized.SetAction(_ => OptimizedGraph.Run());
root.Subcommands.Add(optimized);

var models = Opt.Models();
var name = Opt.Of("--name", "rff-cnn-fashion", "model");
var data = Opt.Data();
var count = Opt.Of("--count", 30, "images");
var output = Opt.Of("--out", "bench/results/cam-latency.md", "markdown output");
var camLatency = new Command("cam-latency", "each CAM method's latency on each layer next to one classification of the same images, in process")
{
    models, name, data, count, output,
};
camLatency.SetAction(parse => CamLatency.Run(parse.GetValue(models)!, parse.GetValue(name)!, parse.GetValue(data)!, parse.GetValue(count), parse.GetValue(output)!));
root.Subcommands.Add(camLatency);

var canvases = Opt.Of("--count", 1000, "canvases");
var seed = Opt.Of("--seed", 5, "canvas seed");
var methods = Opt.Of("--methods", "cam,gradcam,gradcampp,layercam,scorecam,ablationcam", "comma-separated CAM methods");
var layer = Opt.Of("--layer", "", "layer (default: the model's default layer)");
var channels = Opt.Of("--channels", RffService.Inference.Explanations.CamRequest.DefaultChannels.ToString(System.Globalization.CultureInfo.InvariantCulture), "Score-CAM and Ablation-CAM: channels scored (a number or all)");
var pointing = new Command("pointing-game",
    "localisation of each CAM method: held-out Fashion-MNIST items at native size placed off-centre on black 56x56 canvases; how often " +
    "the map's peak falls inside the item's box, explaining the true class, through the service's path")
{
    models, name, data, canvases, seed, methods, layer, channels,
};
pointing.SetAction(parse =>
{
    var test = ImageDataset.Load(DataPaths.FashionTest(parse.GetValue(data)!));
    var items = PointingCanvases.Canvases(test, parse.GetValue(canvases), parse.GetValue(seed));
    string chosen = parse.GetValue(layer)!;
    var rates = PointingGame.Play(parse.GetValue(models)!, parse.GetValue(name)!, items, parse.GetValue(methods)!.Split(','), chosen.Length > 0 ? chosen : null,
        parse.GetValue(channels) is "all" ? null : int.Parse(parse.GetValue(channels)!, System.Globalization.CultureInfo.InvariantCulture));
    Console.WriteLine($"pointing game on {items.Count} canvases:");
    foreach (var (method, rate) in rates) Console.WriteLine($"  {method,-12} {rate:P1}");
    return 0;
});
root.Subcommands.Add(pointing);

var detectorName = Opt.Of("--name", "rff-ssd-fashion", "detection model");
var detectionCanvases = Opt.Of("--count", 200, "held-out canvases");
var detectionMethods = Opt.Of("--methods", "layercam,gradcam", "comma-separated CAM methods");
var detectionLayer = Opt.Of("--layer", "", "as /cam's layer= (name, index, several with commas, or all); empty: the default layer");
var detectionGammas = Opt.Of("--gammas", "1", "comma-separated map contrasts, as /cam's gamma=");
var detectionPointing = new Command("detection-pointing-game",
    "how often the explanation of a detection (/cam?detection=i) peaks inside that detection's box, how much of the map lies in it, and " +
    "average drop and deletion AUC on the detection's score, on held-out 128x128 canvases (the detector's test canvases), through the service's path")
{
    models, detectorName, data, detectionCanvases, detectionMethods, detectionLayer, detectionGammas,
};
detectionPointing.SetAction(parse =>
{
    var pngs = BenchData.CanvasPngs(parse.GetValue(detectionCanvases));
    string layer = parse.GetValue(detectionLayer)!;
    var results = DetectionPointingGame.Play(parse.GetValue(models)!, parse.GetValue(detectorName)!, pngs, parse.GetValue(detectionMethods)!.Split(','),
        layer.Length == 0 ? null : layer, parse.GetValue(detectionGammas)!.Split(',').Select(g => float.Parse(g, CultureInfo.InvariantCulture)).ToList());
    Console.WriteLine($"detection pointing game on {pngs.Count} canvases (means over detections):");
    Console.WriteLine("| method | gamma | peak in box | map mass in box (flat map) | average drop | deletion AUC |");
    Console.WriteLine("|---|---|---|---|---|---|");
    foreach (var r in results)
        Console.WriteLine($"| {r.Method} | {r.Gamma:G3} | {r.Rate:P1} of {r.Detections} | {r.EnergyInBox:P1} ({r.BoxShare:P1}) | {r.AverageDrop:P1} | {r.DeletionAuc:F3} |");
    return 0;
});
root.Subcommands.Add(detectionPointing);

var seeds = Opt.Of("--seeds", 5, "self-check seeds per model");
var tamper = Opt.Of("--tamper", 2, "layers per seed whose gradient is made 5% too large");
var selfCheck = new Command("self-check",
    "the explanation self-check over seeds on every model of a repository: correct layers refused, wrong gradients caught, time per check")
{
    models, seeds, tamper,
};
selfCheck.SetAction(parse => SelfCheckSweep.Run(parse.GetValue(models)!, parse.GetValue(seeds), parse.GetValue(tamper)));
root.Subcommands.Add(selfCheck);

var mutations = Opt.Of("--mutations", 5000, "mutated files");
var decodersOutput = Opt.Of("--out", "bench/results/decoders.md", "markdown output");
var decoders = new Command("decoders", "SkiaSharp against ImageSharp: decode speed and hostile-input behaviour (the image-library decision)")
{
    mutations, decodersOutput,
};
decoders.SetAction(parse => RffService.Benchmarks.Imaging.DecoderComparison.Run(parse.GetValue(mutations), parse.GetValue(decodersOutput)!));
root.Subcommands.Add(decoders);

return root.Parse(args).Invoke();
