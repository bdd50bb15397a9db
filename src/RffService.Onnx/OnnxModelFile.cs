using Google.Protobuf;
using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>Reads and writes ONNX model files (the protobuf <see cref="ModelProto"/>).</summary>
public static class OnnxModelFile
{
    public static ModelProto Load(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    public static ModelProto Parse(ReadOnlySpan<byte> bytes) => ModelProto.Parser.ParseFrom(bytes);

    public static void Save(ModelProto model, string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    public static byte[] ToBytes(ModelProto model) => model.ToByteArray();
}
