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
/// <param name="CamLayers">The layers explanations can use (RFF layers and other 4-D feature maps), with their shape and methods, or why not.</param>
/// <param name="DefaultCamLayer">The layer /cam uses when the request names none.</param>
/// <param name="Explanations">checking (the layers' gradients are being checked in the background; the model already serves), ready, or unavailable (see explanationError).</param>
/// <param name="ExplanationError">Why the model cannot be explained at all, when it cannot.</param>
/// <param name="UnrecognisedRffChains">Cos-after-Conv chains that were not read as RFF layers, with the reason (they still serve, as plain feature maps).</param>
/// <param name="LastReloadFailure">When new files of the model last failed to load and why, while the version shown keeps serving; null when the files served are the newest.</param>
/// <param name="ConfigInferred">True when the folder has no config.json and the configuration shown was inferred from the ONNX file.</param>
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
    IReadOnlyList<CamLayerInfo> CamLayers,
    string? DefaultCamLayer,
    string? Explanations,
    string? ExplanationError,
    IReadOnlyList<UnrecognisedRffChain> UnrecognisedRffChains,
    bool ConfigInferred,
    ReloadFailureInfo? LastReloadFailure)
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
        (model.Runtime?.Explanations.Layers ?? []).Select(l => CamLayerInfo.From(l, model.Runtime!.Explanations.State)).ToList(),
        model.Runtime?.Explanations.Explainer?.DefaultLayer?.Name,
        model.Runtime?.Explanations.State.ToString().ToLowerInvariant(),
        model.Runtime?.Explanations.Error,
        model.Runtime?.UnrecognisedRffChains ?? [],
        model.ConfigInferred,
        model.LastReloadFailure is { } failure ? new ReloadFailureInfo(failure.At, failure.Error) : null);
}

/// <summary>New files of a model that failed to load; the version shown keeps serving.</summary>
/// <param name="At">When (UTC).</param>
/// <param name="Error">Why they failed to load.</param>
public sealed record ReloadFailureInfo(DateTimeOffset At, string Error);

/// <summary>A layer explanations can use.</summary>
/// <param name="Name">Layer name (the producing node's), for /cam's layer parameter.</param>
/// <param name="Tensor">The tensor it reads.</param>
/// <param name="Kind">rff, or the operator that produces the map (Conv, Relu, BatchNormalization, Add, ...).</param>
/// <param name="Shape">[channels, height, width] at the model's nominal input size.</param>
/// <param name="Methods">The methods that apply (cam only where it is an exact decomposition); empty when refused.</param>
/// <param name="State">checking (its gradient is being checked; /cam waits for it), ready, or refused.</param>
/// <param name="Refused">Why the layer is not offered (an operator without a gradient rule, a failed gradient check), or null.</param>
public sealed record CamLayerInfo(string Name, string Tensor, string Kind, long[] Shape, IReadOnlyList<string> Methods, string State, string? Refused)
{
    public static CamLayerInfo From(RffService.Onnx.Explanations.CamLayer layer, ExplanationState engine) => new(layer.Name, layer.Tensor, layer.Kind,
        [layer.Channels, layer.Height, layer.Width], layer.Usable ? RffService.Inference.Explanations.CamMethod.ApplicableTo(layer) : [],
        !layer.Usable ? "refused" : engine == ExplanationState.Checking ? "checking" : "ready", layer.Refusal);
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
/// <param name="CamMethods">The explanation methods /cam offers (each layer lists those that apply to it).</param>
/// <param name="DefaultModels">Per task, the model a request without ?model= goes to (a task without a ready model is left out).</param>
public sealed record ModelList(IReadOnlyList<ModelInfo> Models, IReadOnlyList<CamMethodInfo> CamMethods, IReadOnlyDictionary<string, string> DefaultModels);

/// <summary>An explanation method.</summary>
/// <param name="Name">What method= takes.</param>
/// <param name="Title">Its usual name (Grad-CAM, Score-CAM, ...).</param>
/// <param name="UsesGradients">False for Score-CAM and Ablation-CAM, which score perturbed inputs or activations instead (slower, one model pass per scored channel).</param>
public sealed record CamMethodInfo(string Name, string Title, bool UsesGradients)
{
    public static IReadOnlyList<CamMethodInfo> All { get; } =
        RffService.Inference.Explanations.CamMethod.All.Values.Select(m => new CamMethodInfo(m.Name, m.Title, m.UsesGradients)).ToList();
}
