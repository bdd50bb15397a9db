namespace RffService.Inference.Common;

/// <summary>What one intervention switched off, as the answer reports it.</summary>
/// <param name="Layer">The CAM layer's name.</param>
/// <param name="Channels">The channels switched off, ascending.</param>
/// <param name="Cells">How many of the layer's cells (positions of its map) were switched off in those channels.</param>
/// <param name="CellsInLayer">How many cells the layer's map has (height x width).</param>
/// <param name="Value">zero, or blank: the blank image's activations.</param>
public sealed record AppliedIntervention(string Layer, IReadOnlyList<int> Channels, int Cells, int CellsInLayer, string Value);

/// <summary>The interventions of one request, as applied.</summary>
public sealed record InterventionReport(IReadOnlyList<AppliedIntervention> Applied);
