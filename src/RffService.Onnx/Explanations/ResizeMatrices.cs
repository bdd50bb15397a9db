using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>
/// ONNX Resize in 'nearest' or 'linear' mode on the two spatial axes is separable and linear:
/// <c>Y[n, c] = A_H X[n, c] A_W^T</c>, with one interpolation matrix per axis written from the operator's definition
/// (coordinate transformation and nearest rounding as the spec gives them). Its gradient is then
/// <c>dX[n, c] = A_H^T dY[n, c] A_W</c>.
/// </summary>
internal static class ResizeMatrices
{
    /// <summary>The [outSize, inSize] matrix of one axis; <paramref name="scale"/> as given to the node (out / in when sizes were given).</summary>
    public static float[] Axis(NodeProto node, int inSize, int outSize, double scale)
    {
        string mode = Attributes.GetString(node, "mode") ?? "nearest";
        string transform = Attributes.GetString(node, "coordinate_transformation_mode") ?? "half_pixel";
        string rounding = Attributes.GetString(node, "nearest_mode") ?? "round_prefer_floor";
        if (mode is not ("nearest" or "linear"))
            throw new NotSupportedException($"Resize in '{mode}' mode (node '{node.Name}'); nearest and linear are supported");
        if (Attributes.GetInt(node, "antialias") is 1)
            throw new NotSupportedException($"Resize with antialias (node '{node.Name}')");
        var matrix = new float[outSize * inSize];
        for (int o = 0; o < outSize; o++)
        {
            double x = transform switch
            {
                "half_pixel" => (o + 0.5) / scale - 0.5,
                "pytorch_half_pixel" => outSize > 1 ? (o + 0.5) / scale - 0.5 : 0,
                "align_corners" => outSize > 1 ? o * (inSize - 1.0) / (outSize - 1.0) : 0,
                "asymmetric" => o / scale,
                "half_pixel_symmetric" => HalfPixelSymmetric(o, inSize, outSize, scale),
                _ => throw new NotSupportedException($"Resize with coordinate_transformation_mode '{transform}' (node '{node.Name}')"),
            };
            if (mode == "nearest")
            {
                double rounded = rounding switch
                {
                    "round_prefer_floor" => x == Math.Floor(x) + 0.5 ? Math.Floor(x) : Math.Round(x, MidpointRounding.AwayFromZero),
                    "round_prefer_ceil" => Math.Round(x, MidpointRounding.AwayFromZero),
                    "floor" => Math.Floor(x),
                    "ceil" => Math.Ceiling(x),
                    _ => throw new NotSupportedException($"Resize with nearest_mode '{rounding}' (node '{node.Name}')"),
                };
                matrix[o * inSize + (int)Math.Clamp(rounded, 0, inSize - 1)] = 1f;
            }
            else
            {
                x = Math.Clamp(x, 0, inSize - 1);
                int low = (int)Math.Floor(x), high = Math.Min(low + 1, inSize - 1);
                double weight = x - low;
                matrix[o * inSize + low] += (float)(1 - weight);
                matrix[o * inSize + high] += (float)weight;
            }
        }
        return matrix;
    }

    private static double HalfPixelSymmetric(int o, int inSize, int outSize, double scale)
    {
        double adjustment = outSize / (scale * inSize);
        double center = inSize / 2.0;
        double offset = center * (1 - adjustment);
        return offset + (o + 0.5) / scale - 0.5;
    }
}
