using RffService.Vision.Detection;

namespace RffService.Training.Detection;

/// <summary>One object on a canvas: its class and tight box in canvas pixels.</summary>
public readonly record struct GroundTruth(int Label, Box Box);

/// <summary>A gray canvas (row-major bytes) with the objects placed on it.</summary>
public sealed record Canvas(int Size, byte[] Pixels, IReadOnlyList<GroundTruth> Objects);
