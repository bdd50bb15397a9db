using RffService.Onnx;
using RffService.Onnx.Proto;

namespace RffService.TestSupport;

/// <summary>
/// Small models that write each operator the way exporters do (torch.onnx.export, opsets 13 and 17, with and without
/// constant folding), built with the project's graph builder. In each, "layer" is a 4-D feature map the explanation is
/// taken at, and what follows it, up to the scores "y", is the pattern under test.
/// </summary>
public static class ExporterPatterns
{
    public delegate (ModelProto Model, string Layer, long[] InputShape) Case();

    public static readonly IReadOnlyDictionary<string, Case> All = new Dictionary<string, Case>
    {
        ["RffConv operator, GAP, Gemm"] = () => Net.Make(n => n.Head(n.Rff(n.Layer(3), 3, 4, 3, 1.5f, 0.7f, 1), 4)),
        ["chain: Conv, Div by sigma, Add bias, Cos, Mul by scale"] = () => Net.Make(n =>
        {
            var z = n.Op("Div", n.Conv(n.Layer(3), 3, 4, 3, pad: 1, bias: false), n.Scalar(1.7f));
            var c = n.Op("Cos", n.Op("Add", z, n.Const([1, 4, 1, 1], n.Uniform(4, 0, 6.28f))));
            return n.Head(n.Op("Mul", c, n.Scalar(0.7f)), 4);
        }),
        ["chain: Mul by 1/sigma, the scale on the left of Mul"] = () => Net.Make(n =>
        {
            var z = n.Op("Mul", n.Conv(n.Layer(3), 3, 4, 3, pad: 1), n.Scalar(1 / 1.7f));
            return n.Head(n.Op("Mul", n.Scalar(0.7f), n.Op("Cos", z)), 4);
        }),
        ["chain: bias through Reshape before the division (no constant folding)"] = () => Net.Make(n =>
        {
            var bias = n.Op("Reshape", n.Const([4], n.Uniform(4, 0, 6.28f)), n.Ints(1, 4, 1, 1));
            var z = n.Op("Div", n.Op("Add", n.Conv(n.Layer(3), 3, 4, 3, pad: 1, bias: false), bias), n.Op("Identity", n.Scalar(1.7f)));
            return n.Head(n.Op("Mul", n.Op("Cos", z), n.Op("Exp", n.Scalar(-0.3f))), 4);
        }),
        ["two chains share sigma through Identity"] = () => Net.Make(n =>
        {
            var sigma = n.Op("Identity", n.Scalar(1.3f));
            var first = n.Op("Cos", n.Op("Div", n.Conv(n.Layer(3), 3, 4, 3, pad: 1), sigma));
            var second = n.Op("Cos", n.Op("Div", n.Conv(first, 4, 4, 3, pad: 1), n.Op("Identity", sigma)));
            return n.Head(second, 4);
        }),
        ["Pad, then AveragePool (torch's count_include_pad)"] = () => Net.Make(n =>
            n.Head(n.Op("AveragePool", [n.Op("Pad", n.Layer(3), n.Ints(0, 0, 1, 1, 0, 0, 1, 1), n.Scalar(0f))],
                Attributes.Ints("kernel_shape", 3, 3), Attributes.Ints("strides", 2, 2)), 3)),
        ["AveragePool with pads, not counting them"] = () => Net.Make(n =>
            n.Head(n.Op("AveragePool", [n.Layer(3)], Attributes.Ints("kernel_shape", 3, 3), Attributes.Ints("strides", 2, 2),
                Attributes.Ints("pads", 1, 1, 1, 1), Attributes.Int("count_include_pad", 0)), 3)),
        ["AveragePool with pads, counting them"] = () => Net.Make(n =>
            n.Head(n.Op("AveragePool", [n.Layer(3)], Attributes.Ints("kernel_shape", 3, 3), Attributes.Ints("strides", 1, 1),
                Attributes.Ints("pads", 1, 1, 1, 1), Attributes.Int("count_include_pad", 1)), 3)),
        ["AveragePool 2x2 stride 2 on an odd size"] = () => Net.Make(n =>
            n.Head(n.Op("AveragePool", [n.Layer(3)], Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2)), 3), size: 9),
        ["stem: Conv + BatchNorm + Relu, then RffConv, GAP, Gemm"] = () => Net.Make(n =>
        {
            var bn = n.Named("BatchNormalization", "stem.bn", [n.Layer(3), n.Const([3], [1.2f, 0.8f, -0.5f]), n.Const([3], [0.1f, -0.2f, 0.3f]),
                n.Const([3], [0.05f, -0.1f, 0.2f]), n.Const([3], [0.9f, 1.5f, 0.4f])], Attributes.Float("epsilon", 1e-5f));
            var relu = n.Named("Relu", "stem.relu", [bn]);
            return n.Head(n.Rff(relu, 3, 4, 3, 1.5f, 0.7f, 1, name: "rff"), 4);
        }),
        ["residual RFF block: y = x + rff(x)"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            return n.Head(n.Op("Add", x, n.Rff(x, 3, 3, 3, 1.5f, 0.8f, 1)), 3);
        }),
        ["Flatten + Gemm head (no GAP)"] = () => Net.Make(n =>
        {
            var flat = n.Op("Flatten", [n.Op("Relu", n.Layer(2))], Attributes.Int("axis", 1));
            return n.Gemm(flat, 2 * 8 * 8);
        }),
        ["MaxPool 2x2 stride 2"] = () => Net.Make(n => n.Head(n.Op("MaxPool", [n.Layer(3)], Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2)), 3)),
        ["MaxPool 2x2 stride 2 on an odd size"] = () => Net.Make(n =>
            n.Head(n.Op("MaxPool", [n.Layer(3)], Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2)), 3), size: 9),
        ["MaxPool 3x2 stride 3x2 (tiling, not square)"] = () => Net.Make(n =>
            n.Head(n.Op("MaxPool", [n.Layer(3)], Attributes.Ints("kernel_shape", 3, 2), Attributes.Ints("strides", 3, 2)), 3), size: 10),
        ["MaxPool 3x3 stride 2 pads 1 (overlapping windows)"] = () => Net.Make(n =>
            n.Head(n.Op("MaxPool", [n.Layer(3)], Attributes.Ints("kernel_shape", 3, 3), Attributes.Ints("strides", 2, 2), Attributes.Ints("pads", 1, 1, 1, 1)), 3)),
        ["GlobalMaxPool head"] = () => Net.Make(n => n.Gemm(n.Op("Flatten", [n.Op("GlobalMaxPool", n.Layer(3))], Attributes.Int("axis", 1)), 3)),
        ["strided Conv 3x3 stride 2 pads 1"] = () => Net.Make(n => n.Head(n.Op("Cos", n.Conv(n.Layer(3), 3, 4, 3, stride: 2, pad: 1)), 4)),
        ["strided Conv 2x2 stride 2 on an odd size"] = () => Net.Make(n => n.Head(n.Op("Sin", n.Conv(n.Layer(3), 3, 4, 2, stride: 2)), 4), size: 9),
        ["dilated Conv"] = () => Net.Make(n => n.Head(n.Op("Cos", n.Conv(n.Layer(3), 3, 4, 3, pad: 2, dilation: 2)), 4)),
        ["grouped Conv"] = () => Net.Make(n => n.Head(n.Op("Cos", n.Conv(n.Layer(4), 4, 6, 3, pad: 1, group: 2)), 6)),
        ["depthwise Conv 3x3 stride 2 pads 1"] = () => Net.Make(n => n.Head(n.Op("Cos", n.Conv(n.Layer(4), 4, 4, 3, stride: 2, pad: 1, group: 4)), 4)),
        ["depthwise Conv 5x5 pads 2 on a 2x2 map"] = () => Net.Make(n => n.Head(n.Op("Cos", n.Conv(n.Layer(4), 4, 4, 5, pad: 2, group: 4)), 4), size: 2),
        ["squeeze-excitation as torchvision's MobileNetV3: GAP, Conv, Relu, Conv, HardSigmoid, Mul"] = () => Net.Make(n =>
        {
            var x = n.Layer(4);
            var squeeze = n.Op("Relu", n.Conv(n.Op("GlobalAveragePool", x), 4, 2, 1));
            var scale = n.Op("HardSigmoid", [n.Conv(squeeze, 2, 4, 1)], Attributes.Float("alpha", 1f / 6), Attributes.Float("beta", 0.5f));
            return n.Head(n.Op("HardSwish", n.Op("Mul", scale, x)), 4);
        }),
        ["channel split as torch exports x.chunk(2, dim=1): Slice bounds computed from Shape, then a channel shuffle"] = () => Net.Make(n =>
        {
            var x = n.Layer(4);
            var channels = n.Op("Gather", n.Op("Shape", x), n.Ints(1));
            var half = n.Op("Div", channels, n.Ints(2));
            var first = n.Op("Slice", x, n.Ints(0), half, n.Ints(1));
            var second = n.Op("Cos", n.Op("Slice", x, half, channels, n.Ints(1)));
            var joined = n.Op("Concat", [first, second], Attributes.Int("axis", 1));
            var grouped = n.Op("Reshape", joined, n.Ints(0, 2, 2, 8, 8));
            var shuffled = n.Op("Reshape", n.Op("Transpose", [grouped], Attributes.Ints("perm", 0, 2, 1, 3, 4)), n.Ints(0, 4, 8, 8));
            return n.Head(shuffled, 4);
        }),
        ["Conv with auto_pad SAME_UPPER and stride 2"] = () => Net.Make(n => n.Head(n.Op("Cos", n.Conv(n.Layer(3), 3, 4, 3, stride: 2, autoPad: "SAME_UPPER")), 4)),
        ["LeakyRelu"] = () => Net.Make(n => n.Head(n.Op("LeakyRelu", [n.Layer(3)], Attributes.Float("alpha", 0.1f)), 3)),
        ["Sigmoid and Tanh"] = () => Net.Make(n => n.Head(n.Op("Tanh", n.Op("Sigmoid", n.Layer(3))), 3)),
        ["Clip to 0..6 (opset 13 inputs)"] = () => Net.Make(n => n.Head(n.Op("Clip", n.Op("Mul", n.Layer(3), n.Scalar(4f)), n.Scalar(0f), n.Scalar(6f)), 3)),
        ["HardSwish and HardSigmoid"] = () => Net.Make(n => n.Head(n.Op("HardSigmoid", [n.Op("HardSwish", n.Op("Mul", n.Layer(3), n.Scalar(3f)))],
            Attributes.Float("alpha", 0.3f), Attributes.Float("beta", 0.4f)), 3)),
        ["GELU as torch exports it: x * 0.5 * (1 + Erf(x / sqrt 2))"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var erf = n.Op("Erf", n.Op("Div", x, n.Scalar(1.4142135f)));
            return n.Head(n.Op("Mul", n.Op("Mul", x, n.Op("Add", erf, n.Scalar(1f))), n.Scalar(0.5f)), 3);
        }),
        ["Exp, Neg, Abs, Sqrt, Pow"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var smooth = n.Op("Sqrt", n.Op("Add", n.Op("Pow", x, n.Scalar(2f)), n.Scalar(1f)));
            return n.Head(n.Op("Add", n.Op("Exp", n.Op("Neg", n.Op("Abs", n.Op("Add", x, n.Scalar(3f))))), smooth), 3);
        }),
        ["Concat and Slice (negative and open ends)"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var both = n.Op("Concat", [x, n.Op("Cos", x)], Attributes.Int("axis", 1));
            var sliced = n.Op("Slice", both, n.Ints(1, 1, 0), n.Ints(5, -1, long.MaxValue), n.Ints(1, 2, 3));
            return n.Head(sliced, 4);
        }),
        ["Split and Concat back"] = () => Net.Make(n =>
        {
            var parts = n.Ops("Split", [n.Layer(3), n.Ints(1, 2)], 2, Attributes.Int("axis", 1));
            return n.Head(n.Op("Concat", [n.Op("Cos", parts[1]), parts[0]], Attributes.Int("axis", 1)), 3);
        }),
        ["Transpose, Reshape, MatMul, Softmax"] = () => Net.Make(n =>
        {
            var nhwc = n.Op("Transpose", [n.Layer(2)], Attributes.Ints("perm", 0, 2, 3, 1));
            var flat = n.Op("Reshape", nhwc, n.Ints(0, -1));
            return n.Output(n.Op("Softmax", [n.Op("MatMul", flat, n.Const([128, 5], n.Uniform(640, -0.2f, 0.2f)))], Attributes.Int("axis", -1)), 5);
        }),
        ["LayerNormalization over channels as ConvNeXt's LayerNorm2d: permute to NHWC, normalise, permute back"] = () => Net.Make(n =>
        {
            var nhwc = n.Op("Transpose", [n.Layer(3)], Attributes.Ints("perm", 0, 2, 3, 1));
            var normalised = n.Op("LayerNormalization", [nhwc, n.Const([3], [1.2f, 0.7f, -0.9f]), n.Const([3], [0.1f, -0.3f, 0.2f])],
                Attributes.Int("axis", -1), Attributes.Float("epsilon", 1e-6f));
            return n.Head(n.Op("Cos", n.Op("Transpose", [normalised], Attributes.Ints("perm", 0, 3, 1, 2))), 3);
        }),
        ["LayerNormalization over channel, height and width"] = () => Net.Make(n =>
            n.Head(n.Op("Sin", n.Op("LayerNormalization", [n.Layer(3), n.Const([3, 8, 8], n.Uniform(192, 0.5f, 1.5f)), n.Const([3, 8, 8], n.Uniform(192, -0.2f, 0.2f))],
                Attributes.Int("axis", 1))), 3)),
        ["LogSoftmax scores"] = () => Net.Make(n => n.Output(n.Op("LogSoftmax", [n.Gemm(n.Op("Flatten", [n.Op("GlobalAveragePool", n.Layer(3))], Attributes.Int("axis", 1)), 3, output: false)],
            Attributes.Int("axis", 1)), 3)),
        ["squeeze-excitation: ReduceMean, Sigmoid, broadcast Mul"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var mean = n.Op("ReduceMean", [x], Attributes.Ints("axes", 2, 3), Attributes.Int("keepdims", 1));
            var gate = n.Op("Sigmoid", n.Conv(mean, 3, 3, 1));
            return n.Head(n.Op("Mul", x, gate), 3);
        }),
        ["broadcast Sub and Div by per-channel statistics"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var mean = n.Op("ReduceMean", [x], Attributes.Ints("axes", 2, 3), Attributes.Int("keepdims", 1));
            var spread = n.Op("Add", n.Op("ReduceMean", [n.Op("Abs", n.Op("Sub", x, mean))], Attributes.Ints("axes", 2, 3), Attributes.Int("keepdims", 1)), n.Scalar(1f));
            return n.Head(n.Op("Cos", n.Op("Div", n.Op("Sub", x, mean), spread)), 3);
        }),
        ["opset 13: Unsqueeze and Squeeze with axes inputs, ReduceSum, Pad with a pads input"] = () => Net.Make(n =>
        {
            var x = n.Op("Pad", n.Layer(3), n.Ints(0, 0, 1, 1, 0, 0, 1, 1), n.Scalar(0f));
            var pooled = n.Op("ReduceSum", [x, n.Ints(2, 3)], Attributes.Int("keepdims", 0));
            var back = n.Op("Squeeze", n.Op("Unsqueeze", pooled, n.Ints(2)), n.Ints(2));
            return n.Gemm(n.Op("Cos", back), 3);
        }, opset: 13),
        ["Where on a comparison of the activations"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            return n.Head(n.Op("Where", n.Op("Greater", x, n.Scalar(0.2f)), n.Op("Sin", x), n.Op("Mul", x, n.Scalar(0.1f))), 3);
        }),
        ["Expand of a per-channel map"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var mean = n.Op("ReduceMean", [x], Attributes.Ints("axes", 2, 3), Attributes.Int("keepdims", 1));
            return n.Head(n.Op("Mul", n.Op("Expand", mean, n.Op("Shape", x)), n.Op("Cos", x)), 3);
        }),
        ["FPN-style: strided Conv, Resize nearest x2 back (nn.Upsample), Add to the layer"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var coarse = n.Op("Cos", n.Conv(x, 3, 3, 3, stride: 2, pad: 1));
            var up = n.Op("Resize", [coarse, n.Const([0], []), n.Const([4], [1f, 1f, 2f, 2f])], Attributes.String("mode", "nearest"),
                Attributes.String("coordinate_transformation_mode", "asymmetric"), Attributes.String("nearest_mode", "floor"));
            return n.Head(n.Op("Add", x, up), 3);
        }),
        ["Resize bilinear up (align_corners=False), then down with align_corners"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var up = n.Op("Resize", [x, n.Const([0], []), n.Const([4], [1f, 1f, 2f, 2f])], Attributes.String("mode", "linear"),
                Attributes.String("coordinate_transformation_mode", "pytorch_half_pixel"));
            var down = n.Op("Resize", [n.Op("Cos", up), n.Const([0], []), n.Const([4], [1f, 1f, 0.375f, 0.375f])], Attributes.String("mode", "linear"),
                Attributes.String("coordinate_transformation_mode", "align_corners"));
            return n.Head(down, 3);
        }),
        ["Gemm with untransposed weights, Sum, Dropout, Identity, Cast"] = () => Net.Make(n =>
        {
            var x = n.Layer(3);
            var summed = n.Op("Sum", x, n.Op("Cos", x), n.Op("Identity", n.Op("Dropout", x)));
            var pooled = n.Op("Cast", [n.Op("Flatten", [n.Op("GlobalAveragePool", summed)], Attributes.Int("axis", 1))], Attributes.Int("to", 1));
            return n.Output(n.Op("Gemm", pooled, n.Const([3, 2], n.Uniform(6, -1, 1)), n.Const([2], [0.1f, 0.2f])), 2);
        }),
    };

    /// <summary>
    /// Piecewise linear throughout, with kinks everywhere: Conv, Relu (the layer's own map goes through ReLU), MaxPool,
    /// Conv + Relu added back to its input (a residual Add after ReLU), MaxPool, GAP, Gemm. A finite difference along a
    /// random direction of such a map crosses many kinks unless the step is tiny.
    /// </summary>
    public static readonly Case PiecewiseLinear = () => Net.Make(n =>
    {
        var relu = n.Named("Relu", "relu", [n.Layer(6)]);
        var pooled = n.Named("MaxPool", "pool1", [relu], Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2));
        var branch = n.Named("Relu", "branch", [n.Conv(pooled, 6, 6, 3, pad: 1)]);
        var sum = n.Named("Add", "residual", [pooled, branch]);
        return n.Head(n.Named("MaxPool", "pool2", [sum], Attributes.Ints("kernel_shape", 2, 2), Attributes.Ints("strides", 2, 2)), 6);
    }, size: 16);

    /// <summary>A graph under construction, with seeded random weights.</summary>
    private sealed class Net
    {
        private readonly GraphBuilder _builder;
        private readonly Random _random = new(11);
        private int _next;
        private long[] _output = [];

        private Net(int opset, int size)
        {
            _builder = new GraphBuilder("pattern", opset).Input("x", [null, 1, size, size]);
            Size = size;
        }

        public int Size { get; }

        public static (ModelProto, string, long[]) Make(Func<Net, string> body, int opset = 17, int size = 8)
        {
            var net = new Net(opset, size);
            body(net);
            return (net._builder.Output("y", [null, .. net._output.Select(d => (long?)d)]).Build(), "layer", [1, 1, size, size]);
        }

        /// <summary>The explained layer: a 3x3 convolution of the input to <paramref name="channels"/> maps.</summary>
        public string Layer(int channels) => Conv("x", 1, channels, 3, pad: 1, output: "layer");

        public string Fresh(string hint) => $"{hint}_{_next++}";

        public string Op(string op, params string[] inputs) => Op(op, inputs, []);

        public string Op(string op, string[] inputs, params AttributeProto[] attributes)
        {
            string output = Fresh(op.ToLowerInvariant());
            _builder.Node(op, inputs, [output], Fresh(op), "", attributes);
            return output;
        }

        public string[] Ops(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
        {
            var names = Enumerable.Range(0, outputs).Select(_ => Fresh(op.ToLowerInvariant())).ToArray();
            _builder.Node(op, inputs, names, Fresh(op), "", attributes);
            return names;
        }

        public string Named(string op, string output, string[] inputs, params AttributeProto[] attributes)
        {
            _builder.Node(op, inputs, [output], output, "", attributes);
            return output;
        }

        public string Const(long[] dims, float[] values)
        {
            string name = Fresh("const");
            _builder.Initializer(name, dims, values);
            return name;
        }

        public string Scalar(float value) => Const([], [value]);

        public string Ints(params long[] values)
        {
            string name = Fresh("ints");
            _builder.Int64Initializer(name, [values.Length], values);
            return name;
        }

        public float[] Uniform(int count, float low, float high) => Enumerable.Range(0, count).Select(_ => low + (high - low) * _random.NextSingle()).ToArray();

        public string Conv(string input, int cin, int cout, int kernel, int stride = 1, int pad = 0, int dilation = 1, int group = 1, bool bias = true,
            string? autoPad = null, string? output = null)
        {
            string weights = Const([cout, cin / group, kernel, kernel], Uniform(cout * cin / group * kernel * kernel, -1, 1));
            var inputs = bias ? new[] { input, weights, Const([cout], Uniform(cout, -0.5f, 0.5f)) } : new[] { input, weights };
            var attributes = new List<AttributeProto>
            {
                Attributes.Ints("kernel_shape", kernel, kernel), Attributes.Ints("strides", stride, stride), Attributes.Ints("dilations", dilation, dilation),
                Attributes.Int("group", group),
            };
            attributes.Add(autoPad is null ? Attributes.Ints("pads", pad, pad, pad, pad) : Attributes.String("auto_pad", autoPad));
            string name = output ?? Fresh("conv");
            _builder.Node("Conv", inputs, [name], name, "", [.. attributes]);
            return name;
        }

        public string Rff(string input, int cin, int cout, int kernel, float sigma, float scale, int pad, string? name = null)
        {
            string output = name ?? Fresh("rff");
            var weights = Enumerable.Range(0, cout * cin * kernel * kernel).Select(_ => (float)RffLayerSpec.Gaussian(_random)).ToArray();
            _builder.RffConv(output, input, output, weights, [cout, cin, kernel, kernel], Uniform(cout, 0, 6.28f), RffConvAttributes.Create(sigma, scale, pad: pad));
            return output;
        }

        /// <summary>Global average pooling and a linear readout to three scores "y".</summary>
        public string Head(string input, int channels) =>
            Gemm(Op("Flatten", [Op("GlobalAveragePool", input)], Attributes.Int("axis", 1)), channels);

        public string Gemm(string input, int features, int classes = 3, bool output = true)
        {
            string weights = Const([classes, features], Uniform(classes * features, -1, 1));
            string bias = Const([classes], Uniform(classes, -0.5f, 0.5f));
            if (!output) return Op("Gemm", [input, weights, bias], Attributes.Int("transB", 1));
            _builder.Node("Gemm", [input, weights, bias], ["y"], "readout", "", Attributes.Int("transB", 1));
            _output = [classes];
            return "y";
        }

        public string Output(string tensor, int classes)
        {
            _builder.Node("Identity", [tensor], ["y"], "y");
            _output = [classes];
            return "y";
        }
    }
}
