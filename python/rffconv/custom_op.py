"""The ai.rff::RffConv operator as the exporter writes it: its name, version, and the autograd function whose symbolic
writes the node (layers.py uses it during export; onnx_export.py adds the operator's definition to the file)."""

from typing import Tuple

import torch

DOMAIN = "ai.rff"
OP_TYPE = "RffConv"
VERSION = 1
BODY_OPSET = 17


class RffConvOp(torch.autograd.Function):
    """Only used while exporting: its symbolic writes the ai.rff::RffConv node; its forward computes the same values."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, sigma: float, scale: float,
                stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int]) -> torch.Tensor:
        z = torch.nn.functional.conv2d(x, weight / sigma, bias, stride, padding, dilation)
        return scale * torch.cos(z)

    @staticmethod
    def symbolic(g, x, weight, bias, sigma, scale, stride, padding, dilation):
        pads = [padding[0], padding[1], padding[0], padding[1]]
        return g.op(f"{DOMAIN}::{OP_TYPE}", x, weight, bias, sigma_f=sigma, scale_f=scale, strides_i=list(stride),
                    pads_i=pads, dilations_i=list(dilation))
