using System.CommandLine;
using System.Globalization;
using RffService.Training.Data;

namespace RffService.Training.Commands;

/// <summary>The trainer's command line: one command per job, each with its own options and help (System.CommandLine).</summary>
public static class Cli
{
    public static RootCommand Build() => new("RffService trainer: data, closed-form RFF-CNN and RFF-SSD training, evaluation, export")
    {
        FetchDataCommand.Create(),
        CrossValidateCommand.Create(),
        TrainClassifierCommand.Create(),
        EvaluateCommand.Create(),
        CalibrateCommand.Create(),
        ExportUntrainedCommand.Create(),
        TrainDetectorCommand.Create(),
        EvaluateDetectorCommand.Create(),
        SamplesCommand.Create(),
    };

    public static int Run(string[] args)
    {
        var parse = Build().Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or FileNotFoundException)
        {
            Console.Error.WriteLine($"{parse.CommandResult.Command.Name}: {ex.Message}");
            return 2;
        }
    }
}

/// <summary>Option factories shared by the commands: typed options with defaults, and comma-separated lists.</summary>
public static class Opt
{
    public static Option<T> Of<T>(string name, T defaultValue, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    public static Option<int[]> Ints(string name, int[] defaultValue, string description) =>
        List(name, defaultValue, description, v => int.Parse(v, CultureInfo.InvariantCulture));

    public static Option<float[]> Floats(string name, float[] defaultValue, string description) =>
        List(name, defaultValue, description, v => float.Parse(v, CultureInfo.InvariantCulture));

    public static Option<double[]> Doubles(string name, double[] defaultValue, string description) =>
        List(name, defaultValue, description, v => double.Parse(v, CultureInfo.InvariantCulture));

    /// <summary>A comma-separated list, e.g. <c>--widths 64,512</c>; a malformed element is a parse error that names the option.</summary>
    private static Option<T[]> List<T>(string name, T[] defaultValue, string description, Func<string, T> parse) => new(name)
    {
        Description = $"{description} (comma-separated; default: {string.Join(",", defaultValue.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)))})",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            try
            {
                return result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries)).Select(parse).ToArray();
            }
            catch (FormatException)
            {
                result.AddError($"{name} takes a comma-separated list of numbers, got '{string.Join(" ", result.Tokens.Select(t => t.Value))}'.");
                return defaultValue;
            }
        },
    };

    public static Option<string> Data() => Of("--data", DataPaths.DefaultRoot, "data cache folder (fetch-data writes it; git-ignored)");
    public static Option<string> Models() => Of("--models", "models", "model repository");
    public static Option<int> Version() => Of("--version", 1, "version folder");
}
