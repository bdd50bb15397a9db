"""RffConv2d for PyTorch and an ONNX exporter that writes the ai.rff::RffConv operator RffService serves."""

from .layers import RffConv2d
from .models import HybridRffCnn, RffCnn, RffSsd
from .onnx_export import attach_function, export, rffconv_function

__version__ = "1.0.0"

__all__ = ["RffConv2d", "RffCnn", "HybridRffCnn", "RffSsd", "export", "attach_function", "rffconv_function", "__version__"]
