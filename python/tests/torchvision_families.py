"""torchvision's classification families with an RFF stem (and two models with the input forms exporters also write:
NHWC colour, uint8 pixels), built, trained briefly and exported by torch, and what torch says about every
intermediate tensor of each.

    PYTHONPATH=python /usr/bin/python3 python/tests/torchvision_families.py OUT

writes OUT/models/<family>/1/model.onnx (exported with the package's export() or a plain torch.onnx.export,
config.json beside) and
OUT/references/<family>.json: per test image, torch's probabilities and, for every 4-D tensor the network computes
(every output of a torch function while it runs: module outputs, residual sums, concatenations, chunks, permutes), a fingerprint of its
values (64 sampled entries) and torch autograd's Grad-CAM and Layer-CAM of the top class at its resolution. The C#
suite (TorchvisionFamilyTests) serves OUT/models, finds for each layer the service offers the torch tensor with the
same values, and compares.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
import torchvision
from torchvision.models import convnext, densenet, efficientnet, mobilenetv2, regnet, resnet, shufflenetv2, vgg

from parity_models import LABELS, MEAN, STD, png, shapes_image, normalise, write_json
from rffconv.layers import RffConv2d
from rffconv.onnx_export import export

SAMPLES = 64


def rff(in_channels, out_channels, kernel, stride=1, padding=0, seed=0):
    return RffConv2d(in_channels, out_channels, kernel, sigma=3.0, stride=stride, padding=padding, trainable=True, seed=seed)


def resnet_bottleneck():
    """torchvision's Bottleneck blocks (1x1, 3x3, 1x1 with expansion 4 and a projection shortcut) behind an RFF stem."""
    def block(inplanes, planes, stride):
        down = None
        if stride != 1 or inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
        return resnet.Bottleneck(inplanes, planes, stride, down)
    return nn.Sequential(rff(1, 16, 5, 2, 2, seed=1), nn.BatchNorm2d(16), nn.ReLU(),
                         block(16, 4, 1), block(16, 8, 2), block(32, 8, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 3))


def mobilenet_v2():
    model = torchvision.models.mobilenet_v2(num_classes=3, width_mult=0.25)
    model.features[0][0] = rff(1, model.features[0][0].out_channels, 3, 2, 1, seed=2)
    return model


def mobilenet_v3_small():
    model = torchvision.models.mobilenet_v3_small(num_classes=3, width_mult=0.25)
    model.features[0][0] = rff(1, model.features[0][0].out_channels, 3, 2, 1, seed=3)
    return model


def efficientnet_b0():
    setting, last_channel = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    model = efficientnet.EfficientNet(setting, dropout=0.2, num_classes=3, last_channel=last_channel)
    model.features[0][0] = rff(1, model.features[0][0].out_channels, 3, 2, 1, seed=4)
    return model


def vgg_bn():
    model = vgg.VGG(vgg.make_layers([8, "M", 16, "M", 32, 32, "M"], batch_norm=True), num_classes=3)
    model.features[0] = rff(1, 8, 3, 1, 1, seed=5)
    model.classifier = nn.Sequential(nn.Linear(32 * 7 * 7, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 3))
    return model


def densenet_small():
    model = densenet.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2, num_classes=3)
    model.features.conv0 = rff(1, 16, 7, 2, 3, seed=6)
    return model


def squeezenet():
    model = torchvision.models.squeezenet1_1(num_classes=3)
    model.features[0] = rff(1, 64, 3, 2, seed=7)
    return model


def shufflenet():
    model = shufflenetv2.ShuffleNetV2([2, 2, 2], [16, 24, 48, 96, 128], num_classes=3)
    model.conv1[0] = rff(1, 16, 3, 2, 1, seed=8)
    return model


def regnet_small():
    params = regnet.BlockParams.from_init_params(depth=3, w_0=16, w_a=8.0, w_m=2.0, group_width=8)
    model = regnet.RegNet(params, num_classes=3, stem_width=16)
    model.stem[0] = rff(1, 16, 3, 2, 1, seed=9)
    return model


def convnext_small():
    model = convnext.ConvNeXt([convnext.CNBlockConfig(16, 32, 1), convnext.CNBlockConfig(32, None, 1)], num_classes=3)
    model.features[0][0] = rff(1, 16, 4, 4, seed=10)
    return model


class ChannelsLastNet(nn.Module):
    """Takes NHWC colour images (as Keras-style pipelines do) and permutes them for an RFF stem and torchvision's
    BasicBlock."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(rff(3, 16, 3, 1, 1, seed=12), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                                  resnet.BasicBlock(16, 16), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))

    def forward(self, x):
        return self.body(x.permute(0, 3, 1, 2))


class Uint8Net(nn.Module):
    """Takes the pixels as uint8 and normalises them inside the graph, then MobileNetV2's inverted residual blocks."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(rff(1, 16, 3, 2, 1, seed=13), nn.BatchNorm2d(16), nn.ReLU6(),
                                  mobilenetv2.InvertedResidual(16, 16, 1, 2), mobilenetv2.InvertedResidual(16, 24, 2, 2),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 3))

    def forward(self, x):
        return self.body((x.float() / 255 - MEAN) / STD)


# name -> (builder, input size, plain export, input form: gray (normalised NCHW), nhwc (normalised colour), uint8 (raw pixels))

FAMILIES = {
    "tv-resnet-bottleneck": (resnet_bottleneck, 32, False, "gray"),
    "tv-mobilenet-v2": (mobilenet_v2, 32, True, "gray"),
    "tv-mobilenet-v3-small": (mobilenet_v3_small, 32, False, "gray"),
    "tv-efficientnet-b0": (efficientnet_b0, 32, False, "gray"),
    "tv-vgg-bn": (vgg_bn, 56, True, "gray"),
    "tv-densenet": (densenet_small, 32, False, "gray"),
    "tv-squeezenet": (squeezenet, 48, True, "gray"),
    "tv-shufflenet-v2": (shufflenet, 32, False, "gray"),
    "tv-regnet": (regnet_small, 32, True, "gray"),
    "tv-convnext": (convnext_small, 32, False, "gray"),
    "nhwc-colour-input": (ChannelsLastNet, 32, True, "nhwc"),
    "uint8-input": (Uint8Net, 32, True, "uint8"),
}


def pixels(rng, size, kind, form):
    """A gray image of the kind, or for colour inputs three of them (one per channel) as [H, W, 3]."""
    if form == "nhwc":
        return np.stack([shapes_image(rng, size, kind) for _ in range(3)], axis=-1)
    return shapes_image(rng, size, kind)


def model_input(images, form):
    """A batch as the model takes it: normalised [N, 1, H, W], normalised [N, H, W, 3], or the raw uint8 [N, 1, H, W]."""
    if form == "uint8":
        return torch.stack([torch.from_numpy(p) for p in images])[:, None]
    batch = torch.stack([normalise(p) for p in images])
    return batch if form == "nhwc" else batch[:, None]


def train_briefly(model, size, form, steps=8, seed=0):
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        kinds = rng.integers(0, 3, 16)
        x = model_input([pixels(rng, size, k, form) for k in kinds], form)
        loss = F.cross_entropy(model(x), torch.from_numpy(kinds))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # BatchNorm's running statistics from a few steps are far from the data's, and in eval mode the signal then fades
    # through deep stacks until the scores hardly depend on the early layers: recompute them on fresh batches.
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average
    with torch.no_grad():
        for _ in range(4):
            model(model_input([pixels(rng, size, k, form) for k in rng.integers(0, 3, 16)], form))
    model.eval()
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False  # every tensor keeps its own value, as every ONNX node's output does
    return model


class Recorder(TorchFunctionMode):
    """Keeps every 4-D tensor a torch function computes while the network runs (module outputs, residual sums,
    concatenations, chunks, permutes), with in-place operations done out of place so that each keeps its value."""

    def __init__(self):
        super().__init__()
        self.tensors = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        if kwargs.get("inplace"):
            kwargs["inplace"] = False
        if name.endswith("_") and not name.startswith("_"):
            func = _out_of_place(name[:-1])
        if func is F.silu:  # torch computes it in one step; ONNX (and so the service) as x * Sigmoid(x)
            gate = torch.sigmoid(args[0])
            self._keep("sigmoid", gate)
            out = args[0] * gate
        else:
            out = func(*args, **kwargs)
        for tensor in out if isinstance(out, (tuple, list)) else [out]:
            self._keep(name, tensor)
        return out

    def _keep(self, name, tensor):
        if isinstance(tensor, torch.Tensor) and tensor.dim() == 4 and tensor.requires_grad and min(tensor.shape[2:]) >= 2:
            self.tensors.append((name, tensor))


def _out_of_place(name):
    for home in (torch.Tensor, torch, torch._C._nn):
        if hasattr(home, name):
            return getattr(home, name)
    raise NotImplementedError(f"no out-of-place form of {name}_")


def tensor_references(model, x, target, seed):
    with Recorder() as recorder:
        score = model(x)[0, target]
    names, tensors = zip(*recorder.tensors)
    gradients = torch.autograd.grad(score, tensors, allow_unused=True)
    rng = np.random.default_rng(seed)
    layers = []
    for name, a, g in zip(names, tensors, gradients):
        if g is None:
            continue
        a, g = a[0].detach(), g[0]
        flat = a.flatten()
        at = sorted(rng.choice(flat.numel(), size=min(SAMPLES, flat.numel()), replace=False).tolist())
        layers.append({"op": name, "shape": list(a.shape), "at": at, "values": flat[at].tolist(),
                       "gradcam": F.relu((g.mean(dim=(1, 2))[:, None, None] * a).sum(0)).flatten().tolist(),
                       "layercam": F.relu((F.relu(g) * a).sum(0)).flatten().tolist()})
    return layers


def family_case(out, name, model, size, plain, form, images=2, seed=11):
    """plain: torch.onnx.export(model, dummy, path, opset_version=17) as a user first writes it (batch fixed at 1, the
    layers' default standard-op chains); otherwise the package's export() (the ai.rff::RffConv operator, dynamic batch)."""
    folder = os.path.join(out, "models", name, "1")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    channels = 3 if form == "nhwc" else 1
    config = {"task": "classification", "description": f"input form {form}: {name}", "labels": LABELS,
              "input": {"width": size, "height": size, "channels": channels}}
    if form != "uint8":  # a uint8 input takes the pixels as they are
        config["input"].update(mean=[MEAN] * channels, std=[STD] * channels)
    if form == "nhwc":
        config["input"]["layout"] = "NHWC"
    dummy = model_input([pixels(np.random.default_rng(0), size, 0, form)], form)
    if plain:
        torch.onnx.export(model, dummy, path, opset_version=17)
    else:
        export(model, dummy, path, opset=17, input_names=["pixels"], output_names=["scores"],
               dynamic_axes={"pixels": {0: "batch"}, "scores": {0: "batch"}})
        config["input"]["name"], config["output"] = "pixels", {"name": "scores"}
    write_json(os.path.join(out, "models", name, "config.json"), config)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(images):
        image = pixels(rng, size, i % 3, form)
        file = f"{name}-{i}.png"
        png(os.path.join(out, "references", file), image)
        x = model_input([image], form)
        with torch.no_grad():
            probabilities = torch.softmax(model(x), 1)[0]
        target = int(probabilities.argmax())
        cases.append({"image": file, "probabilities": probabilities.tolist(), "target": target,
                      "tensors": tensor_references(model, x, target, seed + i)})
    write_json(os.path.join(out, "references", f"{name}.json"), {"model": name, "task": "classification", "cases": cases})


def main(out, only=None):
    torch.manual_seed(0)
    torch.set_num_threads(1)  # Debian's torch is far slower with two threads on two cores
    os.makedirs(os.path.join(out, "references"), exist_ok=True)
    for name, (build, size, plain, form) in FAMILIES.items():
        if only and name not in only:
            continue
        family_case(out, name, train_briefly(build(), size, form), size, plain, form)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
