using RffService.Onnx.Runtime;

namespace RffService.Onnx.Tests;

public class ClientMessagesTests
{
    [Theory]
    [InlineData("[ErrorCode:InvalidArgument] Non-zero status code returned while running Conv node. Name:'/conv/Conv' Status Message: " +
                "/onnxruntime_src/onnxruntime/core/providers/cpu/nn/conv.cc:123 onnxruntime::common::Status onnxruntime::Conv<float>::Compute(onnxruntime::OpKernelContext*) const " +
                "X num_dims does not match W num_dims.",
        "[ErrorCode:InvalidArgument] Non-zero status code returned while running Conv node. Name:'/conv/Conv' Status Message: X num_dims does not match W num_dims.")]
    [InlineData("model.onnx is not a valid ONNX model: cannot read /srv/app/models/mine/1/model.onnx",
        "model.onnx is not a valid ONNX model: cannot read model.onnx")]
    [InlineData("System.InvalidOperationException: Sequence contains no elements", "Sequence contains no elements")]
    [InlineData("Explanations do not support the ai.rff::RffConv operation (node '/features/features.0/RffConv')",
        "Explanations do not support the ai.rff::RffConv operation (node '/features/features.0/RffConv')")]
    public void Internals_are_taken_out_and_the_reason_stays(string message, string expected) =>
        Assert.Equal(expected, ClientMessages.WithoutInternals(message));
}
