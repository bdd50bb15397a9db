using System.Text.Json;
using RffService.Inference.Models;
using RffService.Onnx;
using RffService.Onnx.Explanations;
using RffService.Onnx.Runtime;
using RffService.Vision.Configuration;

namespace RffService.Api;

/// <summary>
/// <c>dotnet RffService.Api.dll inspect model.onnx [--write config.json]</c>: proposes a config.json for a model file
/// (what the service would infer when a model folder has none), prints it, and lists what could not be inferred.
/// Exits 0 when the proposal is complete, 2 when it holds placeholders, 1 when the file cannot be read.
/// </summary>
public static class InspectCommand
{
    public const string Verb = "inspect";

    public static int Run(string[] args, TextWriter output, TextWriter errors)
    {
        if (args.Length < 2 || args[1].StartsWith('-'))
        {
            errors.WriteLine("usage: RffService.Api inspect <model.onnx> [--write <config.json>]");
            return 1;
        }
        int write = Array.IndexOf(args, "--write");
        string? target = write > 0 && write + 1 < args.Length ? args[write + 1] : null;
        ConfigProposal proposal;
        try
        {
            var model = ModelLoader.Parse(File.ReadAllBytes(args[1]));
            ExternalData.Inline(model, Path.GetDirectoryName(Path.GetFullPath(args[1]))!);
            var sessions = new SessionFactory(SessionSettings.Cpu);
            using var session = sessions.Create(model);
            proposal = ModelConfigInference.Propose(model, shape => ModelLoader.Probe(session, shape));
            // As the service reads them: on the folded graph, in either spelling (the operator or its standard-op chain).
            var inspector = new ModelInspector(ConstantFolder.Fold(model, sessions));
            foreach (var layer in inspector.FindRffLayers())
                errors.WriteLine($"RFF layer {layer.Name}: {layer.Form}, {layer.OutChannels} features, sigma {layer.Attributes.Sigma:G4}");
            foreach (var chain in inspector.UnrecognisedRffChains())
                errors.WriteLine($"not read as an RFF layer: {chain.Node}: {chain.Reason}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or Google.Protobuf.InvalidProtocolBufferException
                                       or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            errors.WriteLine($"cannot inspect {args[1]}: {ex.Message}");
            return 1;
        }
        string json = JsonSerializer.Serialize(proposal.Config, ModelConfig.JsonOptions);
        output.WriteLine(json);
        if (target is not null) File.WriteAllText(target, json + Environment.NewLine);
        foreach (var note in proposal.Notes) errors.WriteLine($"inferred: {note}");
        foreach (var missing in proposal.Missing) errors.WriteLine($"MISSING: {missing}");
        errors.WriteLine(proposal.Complete ? "complete: the service serves this model without a config.json"
            : "incomplete: edit the placeholders into a config.json next to the version folders");
        return proposal.Complete ? 0 : 2;
    }
}
