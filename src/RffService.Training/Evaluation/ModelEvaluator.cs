using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using RffService.Training.Data;

using RffService.Training.Common;
namespace RffService.Training.Evaluation;

/// <summary>
/// Scores a model on a data set through the service's own code path: each image is encoded as PNG and classified by
/// the service's classification code (decode, pre-process, ONNX Runtime, softmax), or sent to a running service.
/// </summary>
public static class ModelEvaluator
{
    public const int BatchSize = 32;

    public static EvaluationReport InProcess(string modelsRoot, string modelName, ImageDataset data)
    {
        using var model = new RepositoryModel(modelsRoot, modelName);
        return Score(data, "evaluate", batch => model.Classify(batch).Select(ArgMax).ToList());
    }

    /// <summary>The same, over HTTP: POST /classify with the PNGs as a multipart batch.</summary>
    public static EvaluationReport OverHttp(Uri service, string modelName, ImageDataset data)
    {
        using var client = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromMinutes(2) };
        return Score(data, "POST /classify", batch =>
        {
            using var form = new MultipartFormDataContent();
            for (int i = 0; i < batch.Count; i++)
                form.Add(new ByteArrayContent(batch[i].ToArray()) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", $"{i}.png");
            using var response = client.PostAsync($"/classify?model={Uri.EscapeDataString(modelName)}&topK=1", form).GetAwaiter().GetResult();
            string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"The service answered {(int)response.StatusCode}: {body}");
            using var json = JsonDocument.Parse(body);
            var results = json.RootElement.ValueKind == JsonValueKind.Array ? json.RootElement.EnumerateArray().ToList() : [json.RootElement];
            return results.Select(r => r.GetProperty("predictions")[0].GetProperty("index").GetInt32()).ToList();
        });
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static EvaluationReport Score(ImageDataset data, string title, Func<IReadOnlyList<ReadOnlyMemory<byte>>, IReadOnlyList<int>> classify)
    {
        var clock = Stopwatch.StartNew();
        var predicted = new List<int>(data.Count);
        var progress = new Progress(title, data.Count);
        for (int start = 0; start < data.Count; start += BatchSize)
        {
            int count = Math.Min(BatchSize, data.Count - start);
            var batch = Enumerable.Range(start, count).Select(i => (ReadOnlyMemory<byte>)TestImageEncoder.Png(data, i)).ToList();
            predicted.AddRange(classify(batch));
            progress.Advance(count);
        }
        progress.Finish();
        return EvaluationReport.From(data.Classes, data.Labels.Select(l => (int)l).ToList(), predicted, clock.Elapsed.TotalSeconds);
    }
}
