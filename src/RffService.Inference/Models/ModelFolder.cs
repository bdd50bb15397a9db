using System.Text.Json;
using RffService.Vision.Configuration;

namespace RffService.Inference.Models;

/// <summary>
/// Reads a model folder of the repository: models/&lt;name&gt;/config.json and numbered version folders
/// (models/&lt;name&gt;/&lt;version&gt;/model.onnx), the highest of which is served.
/// </summary>
public static class ModelFolder
{
    public const string ConfigFileName = "config.json";
    public const string ModelFileName = "model.onnx";

    /// <summary>A new entry for the folder: loading, or failed when its config.json cannot be used.</summary>
    public static ModelEntry Discover(string directory)
    {
        var versions = Versions(directory);
        var entry = new ModelEntry
        {
            Name = Path.GetFileName(directory),
            Directory = directory,
            Fingerprint = Fingerprint(directory),
            Versions = versions,
        };
        string configPath = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(configPath)) return entry; // the loader infers a config from the model file, or says what is missing
        var (config, error) = ReadConfig(configPath);
        return error is null ? entry with { Config = config } : entry.Failed(error);
    }

    public static string ModelPath(ModelEntry entry, int version) => Path.Combine(entry.Directory, version.ToString(), ModelFileName);

    /// <summary>What identifies a model's files: config.json and the highest version's model.onnx (size and time).</summary>
    public static string Fingerprint(string directory)
    {
        static string Of(string path) => File.Exists(path) ? $"{path}:{new FileInfo(path).Length}:{File.GetLastWriteTimeUtc(path).Ticks}" : $"{path}:none";
        int highest = Versions(directory).DefaultIfEmpty(0).First();
        return Of(Path.Combine(directory, ConfigFileName)) + "|" + highest + "|" + Of(Path.Combine(directory, highest.ToString(), ModelFileName));
    }

    private static List<int> Versions(string directory) =>
        Directory.GetDirectories(directory)
            .Select(Path.GetFileName)
            .Select(v => int.TryParse(v, out int n) && n > 0 ? n : (int?)null)
            .OfType<int>()
            .OrderDescending()
            .ToList();

    private static (ModelConfig? Config, string? Error) ReadConfig(string path)
    {
        try
        {
            var (config, errors) = ModelConfigValidator.Read(File.ReadAllText(path));
            return errors.Count == 0 ? (config, null) : (null, "config.json is invalid: " + string.Join("; ", errors));
        }
        catch (JsonException ex)
        {
            return (null, $"config.json is not valid JSON: {ex.Message}");
        }
    }
}
