namespace RffService.Vision.Configuration;

/// <summary>The tasks a model config names (config.json "task").</summary>
public static class ModelTasks
{
    public const string Classification = "classification";
    public const string Detection = "detection";
}
