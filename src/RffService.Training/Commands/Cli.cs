namespace RffService.Training.Commands;

/// <summary>The trainer's command line: one command per job, each with its own help.</summary>
public static class Cli
{
    private static readonly ICommand[] Commands =
        [new FetchDataCommand(), new CrossValidateCommand(), new TrainClassifierCommand(), new EvaluateCommand(), new PointingGameCommand(), new BenchCamCommand(), new CalibrateCommand(), new ExportUntrainedCommand(), new TrainDetectorCommand(), new EvaluateDetectorCommand(), new SampleCanvasesCommand()];

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage();
            return args.Length == 0 ? 1 : 0;
        }
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            Console.Error.WriteLine($"Unknown command '{args[0]}'.");
            PrintUsage();
            return 1;
        }
        if (args.Skip(1).Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(command.Help);
            return 0;
        }
        try
        {
            return command.Execute(CommandLine.Parse(args.Skip(1).ToArray()));
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"{command.Name}: {ex.Message}");
            return 2;
        }
    }

    private static void PrintUsage()
    {
        Console.WriteLine("usage: dotnet run --project src/RffService.Training -- <command> [options]");
        Console.WriteLine();
        foreach (var command in Commands) Console.WriteLine($"  {command.Name,-18} {command.Summary}");
        Console.WriteLine();
        Console.WriteLine("<command> --help shows a command's options.");
    }
}

public interface ICommand
{
    string Name { get; }
    string Summary { get; }
    string Help { get; }
    int Execute(CommandLine options);
}

/// <summary>--key value options.</summary>
public sealed class CommandLine(Dictionary<string, string> values)
{
    public static CommandLine Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"Unexpected argument '{args[i]}'.");
            string key = args[i][2..];
            values[key] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
        return new CommandLine(values);
    }

    public string String(string key, string fallback) => values.GetValueOrDefault(key, fallback);

    public int Int(string key, int fallback) =>
        values.TryGetValue(key, out var text) ? int.TryParse(text, out int v) ? v : throw new ArgumentException($"--{key} must be an integer.") : fallback;
}
