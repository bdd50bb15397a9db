"""RffConv2d: the random-feature distribution, the forward formula, and the kernel it approximates."""

import math

import torch
import torch.nn.functional as F

from rffconv.layers import RffConv2d


def test_weights_are_standard_normal_and_phases_uniform_on_0_2pi():
    layer = RffConv2d(8, 4096, 3, sigma=2.0, seed=3)
    w, b = layer.weight.flatten(), layer.bias
    assert abs(w.mean().item()) < 0.01 and abs(w.std().item() - 1) < 0.01
    assert b.min().item() >= 0 and b.max().item() < 2 * math.pi
    assert abs(b.mean().item() - math.pi) < 0.1
    assert abs(layer.scale - math.sqrt(2 / 4096)) < 1e-12


def test_seed_makes_the_layer_reproducible_and_fixed_layers_have_no_parameters():
    a, b = RffConv2d(3, 16, 3, sigma=1.0, seed=7), RffConv2d(3, 16, 3, sigma=1.0, seed=7)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert list(a.parameters()) == []
    trainable = RffConv2d(3, 16, 3, sigma=1.0, seed=7, trainable=True)
    assert {n for n, _ in trainable.named_parameters()} == {"weight", "bias", "log_sigma"}


def test_forward_is_scale_cos_conv_over_sigma_plus_b():
    layer = RffConv2d(2, 5, 3, sigma=1.7, scale=0.3, stride=2, padding=1, dilation=1, seed=1)
    x = torch.randn(2, 2, 9, 9)
    expected = 0.3 * torch.cos(F.conv2d(x, layer.weight, None, 2, 1) / 1.7 + layer.bias.view(1, -1, 1, 1))
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_feature_inner_products_approximate_the_gaussian_kernel_on_patches():
    # One 3x3 patch per image (no padding): <phi(x), phi(y)> ~ exp(-|x - y|^2 / (2 sigma^2)) for many features.
    sigma = 2.0
    layer = RffConv2d(1, 20000, 3, sigma=sigma, seed=11)
    x, y = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3) * 0.5
    fx, fy = layer(x).flatten(), layer(y).flatten()
    kernel = math.exp(-((x - y) ** 2).sum().item() / (2 * sigma ** 2))
    assert abs((fx @ fy).item() - kernel) < 0.03


def test_sigma_must_be_positive():
    try:
        RffConv2d(1, 2, 3, sigma=0.0)
    except ValueError:
        return
    raise AssertionError("sigma=0 was accepted")
