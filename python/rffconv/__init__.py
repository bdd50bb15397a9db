"""RffConv2d for PyTorch and an ONNX exporter that writes the ai.rff::RffConv operator RffService serves."""

from .layers import RffConv2d
from .onnx_export import export, rffconv_function

__all__ = ["RffConv2d", "export", "rffconv_function"]
