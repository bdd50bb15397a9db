"""The project's default architectures, built from RffConv2d layers (plus ordinary convolutions where they help)."""

from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from .layers import RffConv2d
from . import ssd


class RffCnn(nn.Module):
    """Fully convolutional RFF-CNN classifier: RffConv layers with max pooling between them, global average pooling
    and a linear readout, so it runs at any input size and class activation maps on the last layer are exact."""

    def __init__(self, widths: Sequence[int] = (64, 128, 256), kernels: Sequence[int] = (5, 3, 3),
                 sigmas: Sequence[float] = (4.0, 2.0, 2.0), pools: Sequence[int] = (2, 2, 1), classes: int = 10,
                 in_channels: int = 1, trainable: bool = True, seed: int = 1, batch_norm: bool = False) -> None:
        super().__init__()
        layers, channels = [], in_channels
        for i, (width, kernel, sigma, pool) in enumerate(zip(widths, kernels, sigmas, pools)):
            layers.append(RffConv2d(channels, width, kernel, sigma=sigma, padding=kernel // 2, trainable=trainable, seed=seed + i))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            if pool > 1:
                layers.append(nn.MaxPool2d(pool))
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.readout = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.flatten(self.pool(self.features(x)), 1))

    def logits_and_last_map(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The logits and the last RFF layer's output (the default layer of class activation maps)."""
        last = [m for m in self.features if isinstance(m, RffConv2d)][-1]
        captured: Dict[str, torch.Tensor] = {}
        hook = last.register_forward_hook(lambda _m, _i, out: captured.__setitem__("map", out))
        try:
            return self(x), captured["map"]
        finally:
            hook.remove()


class HybridRffCnn(nn.Module):
    """RFF layers where they carry the explanation, ordinary convolutions where they carry the accuracy: an RffConv stem
    (random Fourier features of 5x5 patches), max pooling, convolution + BatchNorm + ReLU blocks (max pooling after the
    blocks listed in pool_after), then a 1x1 RffConv head (the default CAM layer: global average pooling and the linear
    readout follow it, so CAM is exact there)."""

    def __init__(self, stem: int = 64, widths: Sequence[int] = (128, 128), head: int = 256, sigmas: Sequence[float] = (4.0, 8.0),
                 classes: int = 10, in_channels: int = 1, seed: int = 1, pool_after: Sequence[int] = ()) -> None:
        super().__init__()
        layers = [RffConv2d(in_channels, stem, 5, sigma=sigmas[0], padding=2, trainable=True, seed=seed), nn.MaxPool2d(2)]
        channels = stem
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if i in pool_after:
                layers.append(nn.MaxPool2d(2))
            channels = width
        layers.append(RffConv2d(channels, head, 1, sigma=sigmas[1], trainable=True, seed=seed + 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.readout = nn.Linear(head, classes)

    forward = RffCnn.forward
    logits_and_last_map = RffCnn.logits_and_last_map


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RffSsd(nn.Module):
    """SSD on gray canvases: an RffConv stem (random Fourier features of 5x5 patches, stride 2), convolution blocks,
    feature maps at strides 8, 16, 32 and 64, and 3x3 class and box heads per map. Outputs raw scores [N, A, K+1]
    (background first) and centre-size box offsets [N, A, 4], priors ordered map, row, column, box."""

    def __init__(self, classes: int = 10, size: int = 128, stem: int = 32, widths: Sequence[int] = (48, 64, 96, 128, 128, 128),
                 sigma: float = 4.0, ratios: Sequence[float] = (2.0,), min_scale: float = 0.15, max_scale: float = 0.75,
                 trainable: bool = True, seed: int = 1, extra_blocks: int = 0) -> None:
        super().__init__()
        self.classes, self.size = classes, size
        w = widths
        self.stem = nn.Sequential(RffConv2d(1, stem, 5, sigma=sigma, stride=2, padding=2, trainable=trainable, seed=seed),
                                  nn.BatchNorm2d(stem))
        self.stage1 = nn.Sequential(conv_block(stem, w[0], 2), conv_block(w[0], w[1]))  # stride 4
        self.stage2 = nn.Sequential(conv_block(w[1], w[2], 2), conv_block(w[2], w[2]))  # stride 8 -> map 1
        self.stage3 = conv_block(w[2], w[3], 2)                                         # stride 16 -> map 2
        self.stage4 = conv_block(w[3], w[4], 2)                                         # stride 32 -> map 3
        self.stage5 = conv_block(w[4], w[5], 2)                                         # stride 64 -> map 4
        if extra_blocks:  # deeper: more stride-1 blocks before each of the first three maps
            self.stage2.extend(conv_block(w[2], w[2]) for _ in range(extra_blocks))
            self.stage3 = nn.Sequential(self.stage3, *(conv_block(w[3], w[3]) for _ in range(extra_blocks)))
            self.stage4 = nn.Sequential(self.stage4, *(conv_block(w[4], w[4]) for _ in range(extra_blocks)))
        map_channels = (w[2], w[3], w[4], w[5])
        sides = [size // 8, size // 16, size // 32, size // 64]
        self.feature_maps = [(s, s, list(ratios)) for s in sides]
        self.min_scale, self.max_scale = min_scale, max_scale
        anchors = ssd.boxes_per_cell(ratios)
        self.cls_heads = nn.ModuleList(nn.Conv2d(c, anchors * (classes + 1), 3, padding=1) for c in map_channels)
        self.box_heads = nn.ModuleList(nn.Conv2d(c, anchors * 4, 3, padding=1) for c in map_channels)
        self.register_buffer("prior_boxes", ssd.priors(self.feature_maps, min_scale, max_scale), persistent=False)

    def maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.stage1(self.stem(x))
        m1 = self.stage2(x)
        m2 = self.stage3(m1)
        m3 = self.stage4(m2)
        m4 = self.stage5(m3)
        return [m1, m2, m3, m4]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        scores, boxes = [], []
        for m, cls, box in zip(self.maps(x), self.cls_heads, self.box_heads):
            n = m.shape[0]
            scores.append(cls(m).permute(0, 2, 3, 1).reshape(n, -1, self.classes + 1))
            boxes.append(box(m).permute(0, 2, 3, 1).reshape(n, -1, 4))
        return torch.cat(scores, 1), torch.cat(boxes, 1)
