using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Vision.Configuration;

namespace RffService.Api.Contracts;

/// <summary>What GET /models says of one model.</summary>
/// <param name="Name">Model name (its folder under models/).</param>
/// <param name="Task">classification or detection.</param>
/// <param name="State">loading, ready or failed.</param>
/// <param name="Error">Why the model failed to load, when it did.</param>
/// <param name="Version">The version served (the highest version folder).</param>
/// <param name="Versions">All version folders found.</param>
/// <param name="Trained">False for a placeholder with untrained (random) readout weights.</param>
/// <param name="Description">Free text from config.json.</param>
/// <param name="Labels">Class labels, in output order.</param>
/// <param name="Input">Input size, channels, normalisation and resize mode.</param>
/// <param name="ExecutionProvider">ONNX Runtime execution provider in use.</param>
/// <param name="RffLayers">RFF layers found in the graph, in order.</param>
/// <param name="CamLayers">Names of the layers a class activation map can be computed on.</param>
public sealed record ModelInfo(
    string Name,
    string? Task,
    string State,
    string? Error,
    int? Version,
    IReadOnlyList<int> Versions,
    bool? Trained,
    string? Description,
    IReadOnlyList<string> Labels,
    InputConfig? Input,
    string? ExecutionProvider,
    IReadOnlyList<RffLayerSummary> RffLayers,
    IReadOnlyList<string> CamLayers)
{
    public static ModelInfo From(ModelEntry model) => new(
        model.Name,
        model.Config?.Task,
        model.State.ToString().ToLowerInvariant(),
        model.Error,
        model.Version,
        model.Versions,
        model.Config?.Trained,
        model.Config?.Description,
        model.Config?.Labels ?? [],
        model.Config?.Input,
        model.Runtime?.ExecutionProvider,
        (model.Runtime?.RffLayers ?? []).Select(RffLayerSummary.From).ToList(),
        (model.Runtime?.Explainer?.Layers ?? []).Select(l => l.Name).ToList());
}

/// <summary>One RFF layer: Y = scale * cos(Conv(X, W) / sigma + B).</summary>
/// <param name="Name">Layer (node) name.</param>
/// <param name="Output">Tensor holding the layer's features.</param>
/// <param name="Form">custom-op (ai.rff::RffConv) or standard-op-chain (Conv -> Div/Mul -> Add -> Cos).</param>
/// <param name="InChannels">Input channels.</param>
/// <param name="OutChannels">Random features per location.</param>
/// <param name="Kernel">[height, width].</param>
/// <param name="Sigma">Kernel bandwidth.</param>
/// <param name="Scale">Output scale (sqrt(2/M) is the classical normalisation).</param>
/// <param name="Strides">[h, w].</param>
/// <param name="Pads">[top, left, bottom, right].</param>
/// <param name="Dilations">[h, w].</param>
public sealed record RffLayerSummary(
    string Name,
    string Output,
    string Form,
    int InChannels,
    int OutChannels,
    int[] Kernel,
    float Sigma,
    float Scale,
    int[] Strides,
    int[] Pads,
    int[] Dilations)
{
    public static RffLayerSummary From(RffLayerInfo layer)
    {
        var a = layer.Attributes;
        return new RffLayerSummary(layer.Name, layer.Output, layer.Form == RffLayerForm.CustomOp ? "custom-op" : "standard-op-chain",
            layer.InChannels, layer.OutChannels, [layer.KernelHeight, layer.KernelWidth], a.Sigma, a.Scale,
            [a.StrideH, a.StrideW], [a.PadTop, a.PadLeft, a.PadBottom, a.PadRight], [a.DilationH, a.DilationW]);
    }
}

/// <summary>The models of this service.</summary>
/// <param name="Models">Every model found in the repository, ready or not.</param>
public sealed record ModelList(IReadOnlyList<ModelInfo> Models);
