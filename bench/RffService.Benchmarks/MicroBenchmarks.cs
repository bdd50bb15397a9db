using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;
using RffService.Inference.Explanations;
using RffService.Onnx;
using RffService.Onnx.Runtime;
using RffService.Vision.Detection;
using RffService.Vision.Imaging;
using RffService.Vision.Postprocessing;

namespace RffService.Benchmarks;

/// <summary>The managed RffConv kernel against ONNX Runtime's RffConv (the model-local function) on the default classifier's layer shapes.</summary>
[ShortRunJob]
[MemoryDiagnoser]
public class RffConvBenchmarks
{
    // (C, M, k, side): rff-cnn-fashion's two layers.
    [Params("1x64 k5 28x28", "64x512 k3 14x14")]
    public string Layer { get; set; } = "";

    [Params(1, 8)]
    public int Batch { get; set; }

    private ConvGeometry _geometry;
    private float[] _x = [], _w = [], _b = [], _y = [];
    private InferenceSession? _session;
    private OrtValue? _input;

    [GlobalSetup]
    public void Setup()
    {
        var (c, m, k, side) = Layer.StartsWith("1x64") ? (1, 64, 5, 28) : (64, 512, 3, 14);
        var random = new Random(1);
        var layer = RffLayerSpec.Random(c, m, k, 5f, 1, random);
        _geometry = new ConvGeometry(Batch, c, side, side, m, k, k, layer.Attributes);
        _x = Enumerable.Range(0, _geometry.InputLength).Select(_ => random.NextSingle()).ToArray();
        (_w, _b) = (layer.Weights, layer.Bias);
        _y = new float[_geometry.OutputLength];
        var model = new GraphBuilder("rffconv").Input("x", [null, c, side, side]).Output("y", [null, m, side, side])
            .RffConv("layer", "x", "y", _w, [m, c, k, k], _b, layer.Attributes).Build();
        _session = new SessionFactory(SessionSettings.Cpu).Create(model).Session;
        _input = OrtValue.CreateTensorValueFromMemory(_x, [Batch, c, side, side]);
    }

    [Benchmark(Baseline = true)]
    public void OnnxRuntime()
    {
        using var runOptions = new RunOptions();
        using var outputs = _session!.Run(runOptions, ["x"], [_input!], ["y"]);
    }

    [Benchmark]
    public void Managed() => RffConvKernel.Forward(_geometry, _x, _w, _b, _y);

    [GlobalCleanup]
    public void Cleanup()
    {
        _input?.Dispose();
        _session?.Dispose();
    }
}

/// <summary>Image decoding, resizing and normalisation into the input tensor.</summary>
[ShortRunJob]
[MemoryDiagnoser]
public class PreprocessingBenchmarks
{
    private byte[] _fashionPng = [], _photoJpeg = [];
    private readonly InputSpec _spec = new(28, 28, 1, [0.286f], [0.353f], Letterbox: false);
    private readonly float[] _tensor = new float[28 * 28];

    [GlobalSetup]
    public void Setup()
    {
        _fashionPng = BenchData.FashionPngs(1)[0];
        using var bitmap = new SkiaSharp.SKBitmap(640, 480);
        var random = new Random(1);
        for (int y = 0; y < 480; y++)
            for (int x = 0; x < 640; x++) bitmap.SetPixel(x, y, new SkiaSharp.SKColor((byte)(x / 3), (byte)(y / 2), (byte)random.Next(256)));
        using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90);
        _photoJpeg = data.ToArray();
    }

    [Benchmark]
    public void FashionPng28() => Run(_fashionPng);

    [Benchmark]
    public void PhotoJpeg640x480To28() => Run(_photoJpeg);

    private void Run(byte[] bytes)
    {
        using var image = ImageDecoder.Decode(bytes, 40_000_000);
        ImagePreprocessor.WriteTensor(image, _spec, _tensor);
    }
}

/// <summary>Post-processing: softmax + top-k of a classifier, SSD decoding + NMS of the default detector's real outputs.</summary>
[ShortRunJob]
[MemoryDiagnoser]
public class PostprocessingBenchmarks
{
    private readonly float[] _logits = Enumerable.Range(0, 10).Select(i => MathF.Sin(i) * 5).ToArray();
    private readonly float[] _probabilities = new float[10];
    private LocalService? _service;
    private IDetectionDecoder? _decoder;
    private Dictionary<string, (float[] Values, long[] Shape)> _outputs = [];
    private readonly DetectionParameters _parameters = new(0.3f, 0.45f, 100);
    private readonly DetectionParameters _evaluation = new(0.01f, 0.45f, 100);

    [GlobalSetup]
    public void Setup()
    {
        _service = new LocalService(BenchData.Models);
        var model = _service.Ready("rff-ssd-fashion");
        _decoder = model.Decoder;
        using var image = ImageDecoder.Decode(BenchData.CanvasPngs(3)[2], 40_000_000);
        var spec = InputSpec.From(model.Config.Input);
        var tensor = new float[spec.TensorLength];
        ImagePreprocessor.WriteTensor(image, spec, tensor);
        _outputs = model.Session.Run(tensor, [1, 1, 128, 128], _decoder!.OutputNames);
    }

    [Benchmark]
    public int SoftmaxTopK()
    {
        Softmax.Apply(_logits, _probabilities);
        return TopK.Select(_probabilities, 5)[0];
    }

    [Benchmark]
    public int SsdDecodeNms() => _decoder!.Decode(_outputs, 0, _parameters).Count;

    [Benchmark]
    public int SsdDecodeNmsLowThreshold() => _decoder!.Decode(_outputs, 0, _evaluation).Count;

    [GlobalCleanup]
    public void Cleanup() => _service?.Dispose();
}

/// <summary>Each CAM method on the default classifier's last RFF layer (decode, map and overlay rendering; no faithfulness metrics).</summary>
[ShortRunJob]
[MemoryDiagnoser]
public class CamBenchmarks
{
    [Params("cam", "gradcam", "gradcampp", "layercam", "scorecam", "ablationcam")]
    public string Method { get; set; } = "";

    private LocalService? _service;
    private byte[] _png = [];

    [GlobalSetup]
    public void Setup()
    {
        _service = new LocalService(BenchData.Models);
        _png = BenchData.FashionPngs(1)[0];
    }

    [Benchmark]
    public CamResult Explain() =>
        _service!.Cam.ExplainAsync(_png, new CamRequest("rff-cnn-fashion", null, CamMethod.All[Method], null, MeasureFaithfulness: false)).GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _service?.Dispose();
}
