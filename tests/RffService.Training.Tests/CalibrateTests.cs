using RffService.Onnx;
using RffService.TestSupport;
using RffService.Training.Commands;
using RffService.Training.Evaluation;

namespace RffService.Training.Tests;

[Trait("Category", "Slow")]
[Trait("Needs", "Data set")]
public class CalibrateTests(FashionMnistFixture data) : IClassFixture<FashionMnistFixture>
{
    [Fact]
    public void Temperature_scaling_keeps_every_prediction_and_sharpens_probabilities()
    {
        string root = Path.Combine(Path.GetTempPath(), "rff-calibrate-" + Guid.NewGuid().ToString("N"));
        try
        {
            // An uncalibrated copy of the default model: undo its temperature so calibration has work to do.
            string source = Path.Combine(data.ModelsRoot, "rff-cnn-fashion");
            Directory.CreateDirectory(Path.Combine(root, "m", "1"));
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(root, "m", "config.json"));
            var model = OnnxModelFile.Load(Path.Combine(source, "1", "model.onnx"));
            foreach (var name in new[] { "readout.W", "readout.B" })
            {
                var tensor = model.Graph.Initializer.Single(t => t.Name == name);
                tensor.RawData = Tensors.FromFloats(name, tensor.Dims.ToArray(), Tensors.ToFloats(tensor).Select(v => v / 9f).ToArray()).RawData;
            }
            var recorded = model.MetadataProps.Where(p => p.Key == "rff.temperature").ToList();
            foreach (var entry in recorded) model.MetadataProps.Remove(entry);
            OnnxModelFile.Save(model, Path.Combine(root, "m", "1", "model.onnx"));
            var sample = data.Test.Subset(Enumerable.Range(0, 300).ToList());
            var before = ModelEvaluator.InProcess(root, "m", sample);

            int exit = Cli.Run(["calibrate", "--models", root, "--name", "m", "--count", "2000", "--data", Path.Combine(data.RepositoryRoot, "data")]);

            Assert.Equal(0, exit);
            var after = ModelEvaluator.InProcess(root, "m", sample);
            Assert.Equal(before.Confusion, after.Confusion);
            var calibrated = OnnxModelFile.Load(Path.Combine(root, "m", "1", "model.onnx"));
            double temperature = double.Parse(calibrated.MetadataProps.Single(p => p.Key == "rff.temperature").Value);
            Assert.InRange(temperature, 3, 30);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
