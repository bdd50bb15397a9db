using System.Runtime.InteropServices;
using Google.Protobuf;
using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>Conversions between <see cref="TensorProto"/> and managed arrays.</summary>
public static class Tensors
{
    public static TensorProto FromFloats(string name, ReadOnlySpan<long> dims, ReadOnlySpan<float> data)
    {
        long expected = ElementCount(dims);
        if (expected != data.Length)
            throw new ArgumentException($"Tensor '{name}' has {data.Length} values but its shape [{string.Join(", ", dims.ToArray())}] needs {expected}.");
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims.ToArray());
        // raw_data is little-endian IEEE 754, the layout of float on every platform .NET runs on.
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        return tensor;
    }

    public static TensorProto FromInt64s(string name, ReadOnlySpan<long> dims, ReadOnlySpan<long> data)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.AddRange(dims.ToArray());
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        return tensor;
    }

    public static float[] ToFloats(TensorProto tensor)
    {
        if (tensor.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"Tensor '{tensor.Name}' has data type {tensor.DataType}, expected FLOAT (1).");
        if (tensor.HasRawData)
            return MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
        return tensor.FloatData.ToArray();
    }

    public static long[] ToInt64s(TensorProto tensor)
    {
        if (tensor.DataType != (int)TensorProto.Types.DataType.Int64)
            throw new InvalidDataException($"Tensor '{tensor.Name}' has data type {tensor.DataType}, expected INT64 (7).");
        if (tensor.HasRawData)
            return MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray();
        return tensor.Int64Data.ToArray();
    }

    public static long[] Shape(TensorProto tensor) => tensor.Dims.ToArray();

    public static long ElementCount(ReadOnlySpan<long> dims)
    {
        long count = 1;
        foreach (var d in dims) count *= d;
        return count;
    }
}
