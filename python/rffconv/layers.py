"""The random-Fourier-feature convolution as a PyTorch module."""

import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .custom_op import RffConvOp

IntPair = Union[int, Tuple[int, int]]


def _pair(value: IntPair) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class RffConv2d(nn.Module):
    """Y = scale * cos(conv2d(X, W) / sigma + b): random Fourier features of the input's patches.

    W is drawn i.i.d. from N(0, 1) and b from U[0, 2 pi), so that for a fixed layer the inner products of its
    features approximate a Gaussian kernel of bandwidth ``sigma`` on patches (Rahimi and Recht). ``scale`` defaults
    to sqrt(2 / out_channels), the classical normalisation. With ``trainable=True``, W, b and sigma start from that
    distribution and are trained with the rest of the network (sigma through its logarithm, so it stays positive).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, sigma: float, scale: Optional[float] = None,
                 stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, trainable: bool = False,
                 seed: Optional[int] = None) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.scale = math.sqrt(2.0 / out_channels) if scale is None else float(scale)
        self.trainable = trainable
        generator = torch.Generator()
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        weight = torch.randn(out_channels, in_channels, *self.kernel_size, generator=generator)
        bias = torch.rand(out_channels, generator=generator) * (2 * math.pi)
        log_sigma = torch.tensor(math.log(sigma))
        if trainable:
            self.weight, self.bias, self.log_sigma = nn.Parameter(weight), nn.Parameter(bias), nn.Parameter(log_sigma)
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias)
            self.register_buffer("log_sigma", log_sigma)
        # How torch.onnx.export writes the layer: "chain" (Conv, Div, Add, Cos, Mul: standard ops, self-contained, and the
        # exporter's shape inference goes on past them) or "custom" (one ai.rff::RffConv node; export() adds its definition).
        self.onnx_form: str = "chain"

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """conv2d(X, W) / sigma + b, before the cosine."""
        z = F.conv2d(x, self.weight, None, self.stride, self.padding, self.dilation)
        return z / self.sigma + self.bias.view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export() and self.onnx_form == "custom":
            return RffConvOp.apply(x, self.weight, self.bias, float(self.sigma), self.scale,
                                   self.stride, self.padding, self.dilation)
        return self.scale * torch.cos(self.pre_activation(x))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, sigma={float(self.sigma):.4g}, "
                f"scale={self.scale:.4g}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"trainable={self.trainable}")
