using AttrType = RffService.Onnx.Proto.AttributeProto.Types.AttributeType;
using Google.Protobuf;
using RffService.Onnx.Proto;

namespace RffService.Onnx;

/// <summary>Builds and reads <see cref="AttributeProto"/> values.</summary>
public static class Attributes
{
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttrType.Float, F = value };

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttrType.Int, I = value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttrType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttrType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Ints(string name, params int[] values) => Ints(name, values.Select(v => (long)v).ToArray());

    public static AttributeProto Tensor(string name, TensorProto value) => new() { Name = name, Type = AttrType.Tensor, T = value };

    /// <summary>An attribute of a function body node that takes its value from the calling node's attribute.</summary>
    public static AttributeProto Reference(string name, string parentName, AttrType type) =>
        new() { Name = name, RefAttrName = parentName, Type = type };

    public static float? GetFloat(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : null;

    public static long? GetInt(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : null;

    public static long[]? GetInts(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.Ints.ToArray() : null;

    public static string? GetString(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.S.ToStringUtf8() : null;
}
