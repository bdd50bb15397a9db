using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>
/// The vector-Jacobian product of each supported operator, written as ONNX nodes: given the gradients of a node's
/// outputs, the gradients of those of its inputs that need one. Shapes that broadcasting and pooling need come from the
/// model's probe run; sizes that vary with the input (batch, a dynamic height and width) are read at run time.
/// </summary>
internal sealed class GradientRules(PreparedModel model, GraphEmitter e)
{
    private readonly PreparedModel model = model;
    private readonly GraphEmitter e = e;

    /// <summary>One node's backward step: the gradient of its output in, its inputs' gradients out (into <see cref="Grads"/>).</summary>
    private sealed record Step(NodeProto Node, string Dy, string X, string Y, string?[] OutputGrads, Func<int, bool> Need, Dictionary<int, string> Grads);

    /// <summary>The rule of each supported operator: its keys are the operators explanations can go back through.</summary>
    private static readonly Dictionary<string, Action<GradientRules, Step>> Rules = new()
    {
        ["Identity"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = s.Dy;
        },
        ["Dropout"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = s.Dy;
        },
        ["Cast"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = s.Dy;
        },
        ["Neg"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Neg", [s.Dy]);
        },
        ["Add"] = (r, s) =>
        {
            for (int i = 0; i < s.Node.Input.Count; i++) if (s.Need(i)) s.Grads[i] = r.Unbroadcast(s.Dy, s.Node.Input[i], s.Y);
        },
        ["Sum"] = (r, s) =>
        {
            for (int i = 0; i < s.Node.Input.Count; i++) if (s.Need(i)) s.Grads[i] = r.Unbroadcast(s.Dy, s.Node.Input[i], s.Y);
        },
        ["Sub"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.Unbroadcast(s.Dy, s.Node.Input[0], s.Y);
            if (s.Need(1)) s.Grads[1] = r.Unbroadcast(r.e.Op("Neg", [s.Dy]), s.Node.Input[1], s.Y);
        },
        ["Mul"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.Unbroadcast(r.e.Op("Mul", [s.Dy, s.Node.Input[1]]), s.Node.Input[0], s.Y);
            if (s.Need(1)) s.Grads[1] = r.Unbroadcast(r.e.Op("Mul", [s.Dy, s.Node.Input[0]]), s.Node.Input[1], s.Y);
        },
        ["Div"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.Unbroadcast(r.e.Op("Div", [s.Dy, s.Node.Input[1]]), s.Node.Input[0], s.Y);
            if (s.Need(1)) s.Grads[1] = r.Unbroadcast(r.e.Op("Neg", [r.e.Op("Div", [r.e.Op("Mul", [s.Dy, s.Y]), s.Node.Input[1]])]), s.Node.Input[1], s.Y);
        },
        ["Cos"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Neg", [r.e.Op("Sin", [s.X])])]);
        },
        ["Sin"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Cos", [s.X])]);
        },
        ["Exp"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, s.Y]);
        },
        ["Erf"] = (r, s) => // GELU, as torch exports it: d erf(x) / dx = 2 / sqrt(pi) exp(-x^2)
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Mul", [r.e.Float((float)(2 / Math.Sqrt(Math.PI))), r.e.Op("Exp", [r.e.Op("Neg", [r.e.Op("Mul", [s.X, s.X])])])])]);
        },
        ["Log"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Div", [s.Dy, s.X]);
        },
        ["Sqrt"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Div", [s.Dy, r.e.Op("Mul", [s.Y, r.e.Float(2f)])]);
        },
        ["Abs"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Sign", [s.X])]);
        },
        ["Pow"] = (r, s) =>
        {
            var exponent = r.model.Index.ConstantFloats(s.Node.Input[1]);
            if (s.Need(1) || exponent is not { Length: 1 }) throw new NotSupportedException($"Explanations support Pow only with a constant scalar exponent (node '{s.Node.Name}')");
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Mul", [r.e.Float(exponent[0]), r.e.Op("Pow", [s.X, r.e.Float(exponent[0] - 1)])])]);
        },
        ["Relu"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Where", [r.e.Op("Greater", [s.X, r.e.Float(0f)]), s.Dy, r.e.Float(0f)]);
        },
        ["LeakyRelu"] = (r, s) =>
        {
            if (s.Need(0))
            {
                float alpha = Attributes.GetFloat(s.Node, "alpha") ?? 0.01f;
                s.Grads[0] = r.e.Op("Where", [r.e.Op("Greater", [s.X, r.e.Float(0f)]), s.Dy, r.e.Op("Mul", [s.Dy, r.e.Float(alpha)])]);
            }
        },
        ["Sigmoid"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Mul", [s.Y, r.e.Op("Sub", [r.e.Float(1f), s.Y])])]);
        },
        ["Tanh"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Sub", [r.e.Float(1f), r.e.Op("Mul", [s.Y, s.Y])])]);
        },
        ["HardSigmoid"] = (r, s) =>
        {
            if (s.Need(0))
            {
                float alpha = Attributes.GetFloat(s.Node, "alpha") ?? 0.2f, beta = Attributes.GetFloat(s.Node, "beta") ?? 0.5f;
                s.Grads[0] = r.e.Op("Where", [r.Inside(s.X, alpha, beta), r.e.Op("Mul", [s.Dy, r.e.Float(alpha)]), r.e.Float(0f)]);
            }
        },
        ["HardSwish"] = (r, s) =>
        {
            if (s.Need(0))
            {
                // y = x * hardsigmoid(x) with alpha 1/6, beta 1/2: dy/dx = hardsigmoid(x) + x * alpha * [0 < alpha x + beta < 1].
                const float alpha = 1f / 6, beta = 0.5f;
                var hard = r.e.Op("HardSigmoid", [s.X], Attributes.Float("alpha", alpha), Attributes.Float("beta", beta));
                var slope = r.e.Op("Where", [r.Inside(s.X, alpha, beta), r.e.Op("Mul", [s.X, r.e.Float(alpha)]), r.e.Float(0f)]);
                s.Grads[0] = r.e.Op("Mul", [s.Dy, r.e.Op("Add", [hard, slope])]);
            }
        },
        ["Clip"] = (r, s) =>
        {
            if (s.Need(0))
            {
                string? min = s.Node.Input.Count > 1 && s.Node.Input[1].Length > 0 ? s.Node.Input[1] : Attributes.GetFloat(s.Node, "min") is { } a ? r.e.Float(a) : null;
                string? max = s.Node.Input.Count > 2 && s.Node.Input[2].Length > 0 ? s.Node.Input[2] : Attributes.GetFloat(s.Node, "max") is { } b ? r.e.Float(b) : null;
                string? mask = null;
                if (min is not null) mask = r.e.Op("GreaterOrEqual", [s.X, min]);
                if (max is not null) mask = mask is null ? r.e.Op("LessOrEqual", [s.X, max]) : r.e.Op("And", [mask, r.e.Op("LessOrEqual", [s.X, max])]);
                s.Grads[0] = mask is null ? s.Dy : r.e.Op("Where", [mask, s.Dy, r.e.Float(0f)]);
            }
        },
        ["Softmax"] = (r, s) =>
        {
            if (s.Need(0))
            {
                var axes = r.e.Int64s(Attributes.GetInt(s.Node, "axis") ?? -1);
                var dot = r.e.Op("ReduceSum", [r.e.Op("Mul", [s.Dy, s.Y]), axes], Attributes.Int("keepdims", 1));
                s.Grads[0] = r.e.Op("Mul", [s.Y, r.e.Op("Sub", [s.Dy, dot])]);
            }
        },
        ["LogSoftmax"] = (r, s) =>
        {
            if (s.Need(0))
            {
                var axes = r.e.Int64s(Attributes.GetInt(s.Node, "axis") ?? -1);
                var total = r.e.Op("ReduceSum", [s.Dy, axes], Attributes.Int("keepdims", 1));
                s.Grads[0] = r.e.Op("Sub", [s.Dy, r.e.Op("Mul", [r.e.Op("Exp", [s.Y]), total])]);
            }
        },
        ["BatchNormalization"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Op("Mul", [s.Dy, r.BatchNormFactor(s.Node)]);
            if (Enumerable.Range(1, s.Node.Input.Count - 1).Any(s.Need)) throw new NotSupportedException($"BatchNormalization with computed parameters (node '{s.Node.Name}')");
        },
        ["LayerNormalization"] = (r, s) =>
        {
            if (Enumerable.Range(1, s.Node.Input.Count - 1).Any(s.Need)) throw new NotSupportedException($"LayerNormalization with computed scale or bias (node '{s.Node.Name}')");
            if (s.OutputGrads.Skip(1).Any(g => g is not null)) throw new NotSupportedException($"LayerNormalization whose mean or inverse deviation is used (node '{s.Node.Name}')");
            if (s.Need(0)) s.Grads[0] = r.LayerNormGradient(s.Node, s.Dy);
        },
        ["Conv"] = (r, s) =>
        {
            if (s.Need(1) || s.Need(2)) throw new NotSupportedException($"Explanations support Conv only with constant weights and bias (node '{s.Node.Name}')");
            if (s.Need(0)) s.Grads[0] = r.ConvInputGradient(s.Node, s.Dy);
        },
        ["MaxPool"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.MaxPoolGradient(s.Node, s.Dy);
        },
        ["GlobalMaxPool"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.GlobalMaxPoolGradient(s.X, s.Dy);
        },
        ["AveragePool"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.AveragePoolGradient(s.Node, s.Dy);
        },
        ["GlobalAveragePool"] = (r, s) =>
        {
            if (s.Need(0))
            {
                var shape = r.e.Shape(s.X);
                var spatial = r.e.Op("Slice", [shape, r.e.Int64s(2), r.e.Int64s(long.MaxValue)]);
                var count = r.e.Op("Cast", [r.e.Op("ReduceProd", [spatial], Attributes.Int("keepdims", 0))], Attributes.Int("to", (long)TensorProto.Types.DataType.Float));
                s.Grads[0] = r.e.Op("Div", [r.e.Op("Expand", [s.Dy, shape]), count]);
            }
        },
        ["Pad"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.PadGradient(s.Node, s.Dy);
        },
        ["Flatten"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Reshape(s.Dy, r.e.Shape(s.X));
        },
        ["Reshape"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Reshape(s.Dy, r.e.Shape(s.X));
        },
        ["Squeeze"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Reshape(s.Dy, r.e.Shape(s.X));
        },
        ["Unsqueeze"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.e.Reshape(s.Dy, r.e.Shape(s.X));
        },
        ["Transpose"] = (r, s) =>
        {
            if (s.Need(0))
            {
                var perm = Attributes.GetInts(s.Node, "perm") ?? Enumerable.Range(0, r.Rank(s.X)).Reverse().Select(i => (long)i).ToArray();
                var inverse = new long[perm.Length];
                for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
                s.Grads[0] = r.e.Op("Transpose", [s.Dy], Attributes.Ints("perm", inverse));
            }
        },
        ["Concat"] = (r, s) =>
        {
            long axis = Attributes.GetInt(s.Node, "axis") ?? 0;
            var sizes = r.e.Op("Concat", s.Node.Input.Select(input => r.e.Op("Gather", [r.e.Shape(input), r.e.Int64s(r.Normalise(axis, input))])).ToArray(), Attributes.Int("axis", 0));
            var parts = r.e.Ops("Split", [s.Dy, sizes], s.Node.Input.Count, Attributes.Int("axis", axis));
            for (int i = 0; i < s.Node.Input.Count; i++) if (s.Need(i)) s.Grads[i] = parts[i];
        },
        ["Split"] = (r, s) =>
        {
            if (s.Need(0))
            {
                long axis = Attributes.GetInt(s.Node, "axis") ?? 0;
                var parts = s.Node.Output.Select((output, i) => i < s.OutputGrads.Length && s.OutputGrads[i] is { } g ? g : r.e.ZerosLike(output)).ToArray();
                s.Grads[0] = r.e.Op("Concat", parts, Attributes.Int("axis", axis));
            }
        },
        ["Slice"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.SliceGradient(s.Node, s.Dy);
        },
        ["Gemm"] = (r, s) =>
        {
            r.GemmGradients(s.Node, s.Dy, s.Need, s.Grads);
        },
        ["MatMul"] = (r, s) =>
        {
            if (r.Rank(s.Node.Input[0]) < 2 || r.Rank(s.Node.Input[1]) < 2) throw new NotSupportedException($"MatMul with a 1-D operand (node '{s.Node.Name}')");
            if (s.Need(0)) s.Grads[0] = r.Unbroadcast(r.e.Op("MatMul", [s.Dy, r.SwapLast(s.Node.Input[1])]), s.Node.Input[0], s.Y);
            if (s.Need(1)) s.Grads[1] = r.Unbroadcast(r.e.Op("MatMul", [r.SwapLast(s.Node.Input[0]), s.Dy]), s.Node.Input[1], s.Y);
        },
        ["Expand"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.Unbroadcast(s.Dy, s.X, s.Y);
        },
        ["ReduceMean"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.ReduceGradient(s.Node, s.Dy);
        },
        ["ReduceSum"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.ReduceGradient(s.Node, s.Dy);
        },
        ["Resize"] = (r, s) =>
        {
            if (s.Need(0)) s.Grads[0] = r.ResizeGradient(s.Node, s.Dy, s.X, s.Y);
        },
        ["Where"] = (r, s) =>
        {
            if (s.Need(1)) s.Grads[1] = r.Unbroadcast(r.e.Op("Where", [s.Node.Input[0], s.Dy, r.e.Float(0f)]), s.Node.Input[1], s.Y);
            if (s.Need(2)) s.Grads[2] = r.Unbroadcast(r.e.Op("Where", [s.Node.Input[0], r.e.Float(0f), s.Dy]), s.Node.Input[2], s.Y);
        },
    };

    /// <summary>Input index -> gradient tensor, for the inputs <paramref name="needs"/> accepts.</summary>
    public Dictionary<int, string> Backward(NodeProto node, string?[] outputGrads, Func<string, bool> needs)
    {
        if (node.Domain is not ("" or "ai.onnx") || !Rules.TryGetValue(node.OpType, out var rule))
            throw new NotSupportedException($"Explanations do not support the {(node.Domain.Length > 0 ? node.Domain + "::" : "")}{node.OpType} operation (node '{node.Name}')");
        var grads = new Dictionary<int, string>();
        string dy = outputGrads[0] ?? throw new InvalidOperationException($"node '{node.Name}' has no gradient on its first output");
        bool Need(int i) => i < node.Input.Count && node.Input[i].Length > 0 && needs(node.Input[i]);
        rule(this, new Step(node, dy, node.Input.Count > 0 ? node.Input[0] : "", node.Output[0], outputGrads, Need, grads));
        return grads;
    }

    /// <summary>Resize (nearest or linear) of the spatial axes: dX = A_H^T dY A_W, see <see cref="ResizeMatrices"/>.</summary>
    private string ResizeGradient(NodeProto node, string dy, string x, string y)
    {
        long[] input = Shape(x), output = Shape(y);
        if (input.Length != 4 || input[0] != output[0] || input[1] != output[1])
            throw new NotSupportedException($"Resize of other axes than the two spatial ones of an NCHW tensor (node '{node.Name}')");
        // Opset 10: (X, scales); opset 11 and later: (X, roi, scales, sizes). Sizes give scale = out / in.
        int scalesAt = model.Opset < 11 ? 1 : 2;
        float[]? scales = node.Input.Count > scalesAt && node.Input[scalesAt].Length > 0 ? model.Index.ConstantFloats(node.Input[scalesAt]) : null;
        if (scales is { Length: > 0 } && (scales.Length != 4 || scales[0] != 1 || scales[1] != 1))
            throw new NotSupportedException($"Resize with scales [{string.Join(", ", scales)}] (node '{node.Name}')");
        double scaleH = scales is { Length: 4 } ? scales[2] : (double)output[2] / input[2];
        double scaleW = scales is { Length: 4 } ? scales[3] : (double)output[3] / input[3];
        int inH = (int)input[2], inW = (int)input[3], outH = (int)output[2], outW = (int)output[3];
        var alongH = ResizeMatrices.Axis(node, inH, outH, scaleH); // [outH, inH]
        var alongW = ResizeMatrices.Axis(node, inW, outW, scaleW); // [outW, inW]
        var alongHTransposed = new float[inH * outH];
        for (int o = 0; o < outH; o++)
            for (int i = 0; i < inH; i++) alongHTransposed[i * outH + o] = alongH[o * inH + i];
        return e.Op("MatMul", [e.Op("MatMul", [e.Floats([inH, outH], alongHTransposed), dy]), e.Floats([outW, inW], alongW)]);
    }

    private int Rank(string tensor) => Shape(tensor).Length;

    private long[] Shape(string tensor) => model.Shapes.TryGetValue(tensor, out var shape) ? shape
        : throw new NotSupportedException($"the shape of '{tensor}' is unknown");

    private long Normalise(long axis, string tensor) => axis < 0 ? axis + Rank(tensor) : axis;

    private string Inside(string x, float alpha, float beta)
    {
        var z = e.Op("Add", [e.Op("Mul", [x, e.Float(alpha)]), e.Float(beta)]);
        return e.Op("And", [e.Op("Greater", [z, e.Float(0f)]), e.Op("Less", [z, e.Float(1f)])]);
    }

    /// <summary>Sums a gradient over the axes its input was broadcast along (from the probe's shapes), back to the input's shape.</summary>
    private string Unbroadcast(string grad, string input, string output)
    {
        var inShape = Shape(input);
        var outShape = Shape(output);
        if (inShape.SequenceEqual(outShape)) return grad;
        int offset = outShape.Length - inShape.Length;
        var axes = new List<long>();
        for (int i = 0; i < outShape.Length; i++)
            if (i < offset || (inShape[i - offset] == 1 && outShape[i] != 1)) axes.Add(i);
        var summed = axes.Count == 0 ? grad : e.Op("ReduceSum", [grad, e.Int64s([.. axes])], Attributes.Int("keepdims", 1));
        return e.Reshape(summed, e.Shape(input));
    }

    private string SwapLast(string tensor)
    {
        int rank = Rank(tensor);
        var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        return e.Op("Transpose", [tensor], Attributes.Ints("perm", perm));
    }

    private string BatchNormFactor(NodeProto node)
    {
        var scale = model.Index.ConstantFloats(node.Input[1]);
        var variance = model.Index.ConstantFloats(node.Input[4]);
        if (scale is null || variance is null) throw new NotSupportedException($"BatchNormalization with computed parameters (node '{node.Name}')");
        if (node.Output.Count > 1 && node.Output.Skip(1).Any(o => o.Length > 0) || (Attributes.GetInt(node, "training_mode") ?? 0) != 0)
            throw new NotSupportedException($"BatchNormalization in training mode (node '{node.Name}')");
        float epsilon = Attributes.GetFloat(node, "epsilon") ?? 1e-5f;
        var factor = scale.Select((s, c) => (float)(s / Math.Sqrt(variance[c] + epsilon))).ToArray();
        int rank = Rank(node.Input[0]);
        long[] dims = [1, factor.Length, .. Enumerable.Repeat(1L, rank - 2)];
        return e.Floats(dims, factor);
    }

    /// <summary>Explicit pads [begin..., end...] of a pooling or convolution node (auto_pad resolved on the probe's size).</summary>
    private long[] Pads(NodeProto node, long[] kernel, long[] strides, long[] dilations)
    {
        string autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
        int spatial = kernel.Length;
        if (autoPad is "NOTSET" or "") return Attributes.GetInts(node, "pads") ?? new long[2 * spatial];
        if (autoPad == "VALID") return new long[2 * spatial];
        if (model.Model.Graph.Input.First(i => i.Name == model.InputName).Type.TensorType.Shape.Dim.Skip(2).Any(d => !d.HasDimValue))
            throw new NotSupportedException($"auto_pad {autoPad} on an input of dynamic size (node '{node.Name}'): its padding changes with the size");
        var input = Shape(node.Input[0]);
        var pads = new long[2 * spatial];
        for (int i = 0; i < spatial; i++)
        {
            long size = input[2 + i], output = (size + strides[i] - 1) / strides[i];
            long total = Math.Max(0, (output - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size);
            long small = total / 2, large = total - small;
            (pads[i], pads[spatial + i]) = autoPad == "SAME_UPPER" ? (small, large) : (large, small);
        }
        return pads;
    }

    /// <summary>
    /// The input gradient of a convolution. With stride 1 it is itself a convolution of the output gradient with the
    /// weights flipped in space and swapped between input and output channels (ONNX Runtime's fastest kernels); with
    /// larger strides, the transposed convolution with the same weights, cropped to the input.
    /// </summary>
    private string ConvInputGradient(NodeProto node, string dy)
    {
        var weights = model.Index.Initializers.GetValueOrDefault(node.Input[1]) ?? throw new NotSupportedException($"Conv with computed weights (node '{node.Name}')");
        long[] kernel = weights.Dims.Skip(2).ToArray();
        int spatial = kernel.Length;
        long[] strides = Attributes.GetInts(node, "strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        long[] dilations = Attributes.GetInts(node, "dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        long group = Attributes.GetInt(node, "group") ?? 1;
        var pads = Pads(node, kernel, strides, dilations);
        var flippedPads = new long[2 * spatial];
        for (int i = 0; i < spatial; i++)
        {
            long reach = (kernel[i] - 1) * dilations[i];
            (flippedPads[i], flippedPads[spatial + i]) = (reach - pads[i], reach - pads[spatial + i]);
        }
        if (strides.All(s => s == 1) && flippedPads.All(p => p >= 0) && spatial == 2)
        {
            var flipped = e.Floats(FlippedDims(weights, group), FlipWeights(weights, group));
            return e.Op("Conv", [dy, flipped], Attributes.Ints("pads", flippedPads), Attributes.Ints("dilations", dilations),
                Attributes.Int("group", group), Attributes.Ints("kernel_shape", kernel));
        }
        var transposed = e.Op("ConvTranspose", [dy, node.Input[1]],
            Attributes.Ints("strides", strides), Attributes.Ints("pads", pads), Attributes.Ints("dilations", dilations),
            Attributes.Int("group", group), Attributes.Ints("kernel_shape", kernel),
            Attributes.Ints("output_padding", strides.Select(s => s - 1).ToArray()));
        return CropTo(transposed, node.Input[0], spatial);
    }

    /// <summary>Conv weights [M, C/g, kH, kW] become [C, M/g, kH, kW]: channels swapped within each group, kernel rotated by 180 degrees.</summary>
    private static long[] FlippedDims(TensorProto weights, long group) =>
        [weights.Dims[1] * group, weights.Dims[0] / group, weights.Dims[2], weights.Dims[3]];

    private static float[] FlipWeights(TensorProto weights, long group)
    {
        var w = Tensors.ToFloats(weights);
        int m = (int)weights.Dims[0], cPerGroup = (int)weights.Dims[1], kh = (int)weights.Dims[2], kw = (int)weights.Dims[3];
        int mPerGroup = m / (int)group;
        var flipped = new float[w.Length];
        for (int o = 0; o < m; o++)
        {
            int g = o / mPerGroup, oInGroup = o % mPerGroup;
            for (int c = 0; c < cPerGroup; c++)
                for (int y = 0; y < kh; y++)
                    for (int x = 0; x < kw; x++)
                    {
                        int source = ((o * cPerGroup + c) * kh + y) * kw + x;
                        int target = (((g * cPerGroup + c) * mPerGroup + oInGroup) * kh + (kh - 1 - y)) * kw + (kw - 1 - x);
                        flipped[target] = w[source];
                    }
        }
        return flipped;
    }

    /// <summary>The first spatial elements of a tensor, as many as <paramref name="like"/> has (runtime sizes).</summary>
    private string CropTo(string tensor, string like, int spatial)
    {
        long[] axes = Enumerable.Range(2, spatial).Select(i => (long)i).ToArray();
        var ends = e.Op("Slice", [e.Shape(like), e.Int64s(2), e.Int64s(2 + spatial)]);
        return e.Op("Slice", [tensor, e.Int64s(new long[spatial]), ends, e.Int64s(axes)]);
    }

    /// <summary>Each output gradient goes to the position its window's maximum came from (the first one on ties), accumulated.</summary>
    private string MaxPoolGradient(NodeProto node, string dy)
    {
        if ((Attributes.GetInt(node, "storage_order") ?? 0) != 0) throw new NotSupportedException($"MaxPool with column-major indices (node '{node.Name}')");
        if (SquareTiling(node) is { } k) return TiledMaxPoolGradient(node.Input[0], dy, k);
        var attributes = node.Attribute.Select(a => a.Clone()).ToArray();
        var indices = e.Ops("MaxPool", [node.Input[0]], 2, attributes)[1];
        var flat = e.Int64s(-1);
        var zeros = e.Reshape(e.ZerosLike(node.Input[0]), flat);
        var scattered = e.Op("ScatterElements", [zeros, e.Reshape(indices, flat), e.Reshape(dy, flat)],
            Attributes.Int("axis", 0), Attributes.String("reduction", "add"));
        return e.Reshape(scattered, e.Shape(node.Input[0]));
    }

    private string GlobalMaxPoolGradient(string x, string dy)
    {
        var planes = e.Reshape(x, e.Int64s(0, 0, -1));
        var argmax = e.Op("ArgMax", [planes], Attributes.Int("axis", 2), Attributes.Int("keepdims", 1));
        var scattered = e.Op("ScatterElements", [e.ZerosLike(planes), argmax, e.Reshape(dy, e.Int64s(0, 0, 1))], Attributes.Int("axis", 2));
        return e.Reshape(scattered, e.Shape(x));
    }

    /// <summary>Each output gradient spread evenly over its window (divided by the window's count of real elements when padding is not counted).</summary>
    private string AveragePoolGradient(NodeProto node, string dy)
    {
        if ((Attributes.GetInt(node, "ceil_mode") ?? 0) != 0) throw new NotSupportedException($"AveragePool with ceil_mode (node '{node.Name}')");
        if (Attributes.GetInts(node, "dilations") is { } d && d.Any(v => v != 1)) throw new NotSupportedException($"AveragePool with dilations (node '{node.Name}')");
        long[] kernel = Attributes.GetInts(node, "kernel_shape") ?? throw new NotSupportedException($"AveragePool without kernel_shape (node '{node.Name}')");
        int spatial = kernel.Length;
        long[] strides = Attributes.GetInts(node, "strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var pads = Pads(node, kernel, strides, Enumerable.Repeat(1L, spatial).ToArray());
        long channels = Shape(node.Input[0])[1];
        long window = kernel.Aggregate(1L, (a, b) => a * b);
        if (SquareTiling(node) is { } k) return TiledAverageGradient(node.Input[0], dy, k, 1f / window);
        bool countPads = (Attributes.GetInt(node, "count_include_pad") ?? 0) != 0 || pads.All(p => p == 0);
        string scaled;
        float weight;
        if (countPads)
        {
            scaled = dy;
            weight = 1f / window;
        }
        else
        {
            // The divisor of each window: the real (unpadded) elements in it.
            var ones = e.Op("ConstantOfShape", [e.Shape(node.Input[0])], Attributes.Tensor("value", Tensors.FromFloats("one", [1], [1f])));
            var covered = e.Op("AveragePool", [ones], Attributes.Ints("kernel_shape", kernel), Attributes.Ints("strides", strides),
                Attributes.Ints("pads", pads), Attributes.Int("count_include_pad", 1));
            scaled = e.Op("Div", [dy, e.Op("Mul", [covered, e.Float(window)])]);
            weight = 1f;
        }
        long[] dims = [channels, 1, .. kernel];
        var filter = e.Floats(dims, Enumerable.Repeat(weight, (int)(channels * window)).ToArray());
        var spread = e.Op("ConvTranspose", [scaled, filter], Attributes.Ints("strides", strides), Attributes.Ints("pads", pads),
            Attributes.Int("group", channels), Attributes.Ints("kernel_shape", kernel),
            Attributes.Ints("output_padding", strides.Select(s => s - 1).ToArray()));
        return CropTo(spread, node.Input[0], spatial);
    }

    /// <summary>The side k of a 2-D pooling whose k x k windows tile the input (stride k, no padding, no dilation, floor mode); else null.</summary>
    private static long? SquareTiling(NodeProto node)
    {
        long[]? kernel = Attributes.GetInts(node, "kernel_shape");
        if (kernel is not { Length: 2 } || kernel[0] != kernel[1]) return null;
        bool tiles = (Attributes.GetInts(node, "strides") ?? [1, 1]).SequenceEqual(kernel)
                     && (Attributes.GetInts(node, "pads") ?? [0, 0, 0, 0]).All(p => p == 0)
                     && (Attributes.GetInts(node, "dilations") ?? [1, 1]).All(d => d == 1)
                     && (Attributes.GetInt(node, "ceil_mode") ?? 0) == 0
                     && (node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET") is "NOTSET" or "" or "VALID";
        return tiles ? kernel[0] : null;
    }

    // Tiling windows, backward, with block copies only (SpaceToDepth and DepthToSpace), several times faster in ONNX
    // Runtime than scattering with indices or expanding a 6-D view. SpaceToDepth puts window position (i, j) of every
    // channel in channel block i * k + j; DepthToSpace (DCR) is its inverse.

    /// <summary>Max pooling over k x k tiles: the output gradient goes to each window's first maximum (ArgMax over the window's positions).</summary>
    private string TiledMaxPoolGradient(string x, string dy, long k)
    {
        var (dyShape, covered) = Covered(dy, k);
        var inside = e.Op("Slice", [x, e.Int64s(0, 0), covered, e.Int64s(2, 3)]); // rows and columns no window reaches dropped
        var windows = e.Reshape(e.Op("SpaceToDepth", [inside], Attributes.Int("blocksize", k)), Blocks(dyShape, k));
        var first = e.Op("ArgMax", [windows], Attributes.Int("axis", 1), Attributes.Int("keepdims", 1), Attributes.Int("select_last_index", 0));
        var positions = e.Int64s([k * k, 1, 1, 1], Enumerable.Range(0, (int)(k * k)).Select(i => (long)i).ToArray());
        var mask = e.Op("Cast", [e.Op("Equal", [first, positions])], Attributes.Int("to", (long)TensorProto.Types.DataType.Float));
        var placed = e.Op("Mul", [mask, e.Op("Unsqueeze", [dy, e.Int64s(1)])]);
        return Untiled(x, placed, dyShape, covered, k);
    }

    /// <summary>Average pooling over k x k tiles: each output gradient, times <paramref name="weight"/>, copied to every position of its window.</summary>
    private string TiledAverageGradient(string x, string dy, long k, float weight)
    {
        var (dyShape, covered) = Covered(dy, k);
        var scaled = e.Op("Unsqueeze", [e.Op("Mul", [dy, e.Float(weight)]), e.Int64s(1)]);
        var copies = e.Op("Tile", [scaled, e.Int64s(1, k * k, 1, 1, 1)]);
        return Untiled(x, copies, dyShape, covered, k);
    }

    /// <summary>The output gradient's shape, and the rows and columns its windows cover.</summary>
    private (string Shape, string Covered) Covered(string dy, long k)
    {
        var shape = e.Shape(dy);
        return (shape, e.Op("Mul", [e.Op("Slice", [shape, e.Int64s(2), e.Int64s(4)]), e.Int64s(k, k)]));
    }

    /// <summary>[N, k*k, C, Ho, Wo] as SpaceToDepth orders it.</summary>
    private string Blocks(string dyShape, long k) =>
        e.Op("Concat", [e.Op("Slice", [dyShape, e.Int64s(0), e.Int64s(1)]), e.Int64s(k * k, -1), e.Op("Slice", [dyShape, e.Int64s(2), e.Int64s(4)])],
            Attributes.Int("axis", 0));

    /// <summary>Per-window values [N, k*k, C, Ho, Wo] back on the input's grid, zeros where no window reached.</summary>
    private string Untiled(string x, string blocks, string dyShape, string covered, long k)
    {
        var depth = e.Reshape(blocks, e.Op("Concat", [e.Op("Slice", [dyShape, e.Int64s(0), e.Int64s(1)]), e.Int64s(-1),
            e.Op("Slice", [dyShape, e.Int64s(2), e.Int64s(4)])], Attributes.Int("axis", 0)));
        var grid = e.Op("DepthToSpace", [depth], Attributes.Int("blocksize", k), Attributes.String("mode", "DCR"));
        var missing = e.Op("Sub", [e.Op("Slice", [e.Shape(x), e.Int64s(2), e.Int64s(4)]), covered]);
        return e.Op("Pad", [grid, e.Op("Concat", [e.Int64s(0, 0, 0, 0, 0, 0), missing], Attributes.Int("axis", 0)), e.Float(0f)]);
    }

    private string PadGradient(NodeProto node, string dy)
    {
        string mode = node.Attribute.FirstOrDefault(a => a.Name == "mode")?.S.ToStringUtf8() ?? "constant";
        if (mode != "constant") throw new NotSupportedException($"Pad in {mode} mode (node '{node.Name}')");
        var pads = (node.Input.Count > 1 && node.Input[1].Length > 0 ? model.Index.ConstantInts(node.Input[1]) : Attributes.GetInts(node, "pads"))
                   ?? throw new NotSupportedException($"Pad with computed pads (node '{node.Name}')");
        if (pads.Any(p => p < 0)) throw new NotSupportedException($"Pad with negative pads (node '{node.Name}')");
        int rank = Rank(node.Input[0]);
        long[] axes = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        if (node.Input.Count > 3 && node.Input[3].Length > 0)
            axes = (model.Index.ConstantInts(node.Input[3]) ?? throw new NotSupportedException($"Pad with computed axes (node '{node.Name}')"))
                .Select(a => a < 0 ? a + rank : a).ToArray();
        var begins = pads[..axes.Length];
        var ends = e.Op("Sub", [e.Op("Gather", [e.Shape(node.Output[0]), e.Int64s(axes)]), e.Int64s(pads[axes.Length..])]);
        return e.Op("Slice", [dy, e.Int64s(begins), ends, e.Int64s(axes)]);
    }

    /// <summary>The output gradient placed back where the slice came from, zeros elsewhere (steps of 1).</summary>
    private string SliceGradient(NodeProto node, string dy)
    {
        // Constants, or values the graph computes from shapes (x.chunk(2, dim=1)), read at the probe: along axes other than
        // the batch, which explanation runs change, they are the same for every input.
        long[]? Probed(int i) => model.ProbedInts.GetValueOrDefault(node.Input[i]);
        long[]? Constant(int i) => node.Input.Count > i && node.Input[i].Length > 0 ? model.Index.ConstantInts(node.Input[i]) ?? Probed(i) : null;
        var starts = Constant(1) ?? Attributes.GetInts(node, "starts") ?? throw new NotSupportedException($"Slice with computed starts (node '{node.Name}')");
        var ends = Constant(2) ?? Attributes.GetInts(node, "ends") ?? throw new NotSupportedException($"Slice with computed ends (node '{node.Name}')");
        int rank = Rank(node.Input[0]);
        var axes = (Constant(3) ?? Attributes.GetInts(node, "axes") ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray())
            .Select(a => a < 0 ? a + rank : a).ToArray();
        if (Constant(4) is { } steps && steps.Any(s => s != 1)) throw new NotSupportedException($"Slice with steps other than 1 (node '{node.Name}')");
        bool computed = Enumerable.Range(1, 4).Any(i => node.Input.Count > i && node.Input[i].Length > 0 && model.Index.ConstantInts(node.Input[i]) is null);
        if (computed && axes.Contains(0)) throw new NotSupportedException($"Slice of the batch axis with computed bounds (node '{node.Name}')");
        var shape = e.Shape(node.Input[0]);
        var begin = new string[rank];
        var end = new string[rank];
        var zero = e.Int64s(0);
        for (int a = 0; a < rank; a++) (begin[a], end[a]) = (zero, zero);
        for (int i = 0; i < axes.Length; i++)
        {
            int a = (int)axes[i];
            var size = e.Op("Gather", [shape, e.Int64s(a)]);
            string Clamp(long bound)
            {
                // A bound as Python slicing reads it: negative from the end, then clamped to [0, size].
                var value = bound < 0 ? e.Op("Add", [size, e.Int64s(bound)]) : e.Int64s(Math.Min(bound, long.MaxValue / 2));
                return e.Op("Min", [e.Op("Max", [value, zero]), size]);
            }
            var first = Clamp(starts[i]);
            var last = Clamp(ends[i]);
            begin[a] = first;
            end[a] = e.Op("Sub", [size, e.Op("Max", [last, first])]);
        }
        var pads = e.Op("Concat", [.. begin, .. end], Attributes.Int("axis", 0));
        return e.Op("Pad", [dy, pads, e.Float(0f)]);
    }

    private void GemmGradients(NodeProto node, string dy, Func<int, bool> need, Dictionary<int, string> grads)
    {
        float alpha = Attributes.GetFloat(node, "alpha") ?? 1f, beta = Attributes.GetFloat(node, "beta") ?? 1f;
        long transA = Attributes.GetInt(node, "transA") ?? 0, transB = Attributes.GetInt(node, "transB") ?? 0;
        string a = node.Input[0], b = node.Input[1];
        // Y = alpha op(A) op(B) + beta C.
        if (need(0))
            grads[0] = transA == 0
                ? e.Op("Gemm", [dy, b], Attributes.Float("alpha", alpha), Attributes.Int("transB", transB == 0 ? 1 : 0))
                : e.Op("Gemm", [b, dy], Attributes.Float("alpha", alpha), Attributes.Int("transA", transB), Attributes.Int("transB", 1));
        if (need(1))
            grads[1] = transB == 0
                ? e.Op("Gemm", [a, dy], Attributes.Float("alpha", alpha), Attributes.Int("transA", transA == 0 ? 1 : 0))
                : e.Op("Gemm", [dy, a], Attributes.Float("alpha", alpha), Attributes.Int("transA", 1), Attributes.Int("transB", transA));
        if (need(2)) grads[2] = Unbroadcast(e.Op("Mul", [dy, e.Float(beta)]), node.Input[2], node.Output[0]);
    }

    /// <summary>
    /// LayerNormalization over the axes from <c>axis</c> on, y = x̂ scale + bias with x̂ = (x - μ) / σ:
    /// dx = (g - mean(g) - x̂ mean(g x̂)) / σ with g = dy scale, the means over the normalised axes.
    /// </summary>
    private string LayerNormGradient(NodeProto node, string dy)
    {
        string x = node.Input[0];
        int rank = Rank(x);
        long axis = Attributes.GetInt(node, "axis") ?? -1;
        if (axis < 0) axis += rank;
        var axes = e.Int64s([.. Enumerable.Range((int)axis, rank - (int)axis).Select(a => (long)a)]);
        var count = e.Op("Cast", [e.Op("ReduceProd", [e.Op("Slice", [e.Shape(x), e.Int64s(axis), e.Int64s(long.MaxValue)])], Attributes.Int("keepdims", 0))],
            Attributes.Int("to", (long)TensorProto.Types.DataType.Float));
        string Mean(string t) => e.Op("Div", [e.Op("ReduceSum", [t, axes], Attributes.Int("keepdims", 1)), count]);
        var centred = e.Op("Sub", [x, Mean(x)]);
        var variance = Mean(e.Op("Mul", [centred, centred]));
        var inverse = e.Op("Reciprocal", [e.Op("Sqrt", [e.Op("Add", [variance, e.Float(Attributes.GetFloat(node, "epsilon") ?? 1e-5f)])])]);
        var normalised = e.Op("Mul", [centred, inverse]);
        var g = e.Op("Mul", [dy, node.Input[1]]);
        var projected = e.Op("Sub", [e.Op("Sub", [g, Mean(g)]), e.Op("Mul", [normalised, Mean(e.Op("Mul", [g, normalised]))])]);
        return e.Op("Mul", [projected, inverse]);
    }

    private string ReduceGradient(NodeProto node, string dy)
    {
        string x = node.Input[0];
        int rank = Rank(x);
        var axes = (node.Input.Count > 1 && node.Input[1].Length > 0 ? model.Index.ConstantInts(node.Input[1]) : Attributes.GetInts(node, "axes"))
                   ?? Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        axes = axes.Select(a => a < 0 ? a + rank : a).ToArray();
        bool keep = (Attributes.GetInt(node, "keepdims") ?? 1) != 0;
        var kept = keep ? dy : e.Op("Unsqueeze", [dy, e.Int64s(axes)]);
        var spread = e.Op("Expand", [kept, e.Shape(x)]);
        if (node.OpType == "ReduceSum") return spread;
        var count = e.Op("Cast", [e.Op("ReduceProd", [e.Op("Gather", [e.Shape(x), e.Int64s(axes)])], Attributes.Int("keepdims", 0))],
            Attributes.Int("to", (long)TensorProto.Types.DataType.Float));
        return e.Op("Div", [spread, count]);
    }
}
