"""Builds the models of the PyTorch parity suite and what torch says about them.

    PYTHONPATH=python /usr/bin/python3 python/tests/parity_models.py OUT

writes OUT/models/<name>/1/model.onnx (with config.json, except where the configuration is left for the service to
infer from the file's metadata) and OUT/references/<name>.json: the test images (PNG at the model's input size, so
the service does not resize them) and, per image, torch's probabilities and, for every feature map, its activations
and torch autograd's Grad-CAM and Layer-CAM maps of the top class at the layer's resolution; for detectors,
torchvision's own post-processing of the same outputs. The C# suite (PyTorchParityTests) serves OUT/models and
compares.
"""

import json
import os
import sys
import types

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn
import torchvision
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.ops import boxes as box_ops

from rffconv.layers import RffConv2d
from rffconv.models import HybridRffCnn, RffCnn
from rffconv.onnx_export import export

LABELS = ["circle", "square", "stripes"]
MEAN, STD = 0.4, 0.3
FEATURE_MODULES = (RffConv2d, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)


def png(path, pixels):
    """Writes uint8 [H, W] or [H, W, 3] pixels as PNG with torchvision's encoder."""
    tensor = torch.from_numpy(pixels)
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    torchvision.io.write_png(tensor.contiguous(), path)


def shapes_image(rng, size, kind):
    """A gray image of one of three kinds (a disc, a square, stripes) at a random place, with noise."""
    y, x = np.mgrid[0:size, 0:size]
    image = rng.uniform(10, 60, (size, size))
    cx, cy, r = rng.uniform(size * 0.3, size * 0.7, 2).tolist() + [rng.uniform(size * 0.15, size * 0.3)]
    if kind == 0:
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    elif kind == 1:
        mask = (abs(x - cx) < r) & (abs(y - cy) < r)
    else:
        mask = ((x // 3) % 2 == 0) & (abs(y - cy) < r)
    image[mask] += rng.uniform(120, 190)
    return np.clip(image, 0, 255).astype(np.uint8)


def reference_image(out, name, index, rng, size):
    """Image `index` of a model's references: written as PNG (what the service is sent), returned normalised [1, 1, H, W]."""
    pixels = shapes_image(rng, size, index % 3)
    file = f"{name}-{index}.png"
    png(os.path.join(out, "references", file), pixels)
    return file, normalise(pixels)[None, None]


def normalise(pixels):
    return (torch.from_numpy(pixels).float() / 255.0 - MEAN) / STD


def train_briefly(model, size, steps=60, seed=0):
    """A few seconds of training on the shapes images, so the weights (and BatchNorm statistics) are not the initial ones."""
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        kinds = rng.integers(0, 3, 32)
        x = torch.stack([normalise(shapes_image(rng, size, k)) for k in kinds])[:, None]
        loss = F.cross_entropy(model(x), torch.from_numpy(kinds))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # every module output stays its own tensor, as every ONNX node's output is
    return model


class ResidualRffBlock(nn.Module):
    """y = x + rff(x)."""

    def __init__(self, channels, sigma, seed):
        super().__init__()
        self.rff = RffConv2d(channels, channels, 3, sigma=sigma, padding=1, trainable=True, seed=seed)

    def forward(self, x):
        return x + self.rff(x)


class ResidualNet(nn.Module):
    """Conv + BatchNorm + ReLU stem, a residual RFF block, nn.AvgPool2d with padding (exported as Pad + AveragePool),
    a 1x1 RffConv, global average pooling and a linear readout."""

    def __init__(self, classes=3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            ResidualRffBlock(8, sigma=3.0, seed=5),
            nn.AvgPool2d(3, stride=2, padding=1),
            RffConv2d(8, 12, 1, sigma=3.0, trainable=True, seed=6))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.readout = nn.Linear(12, classes)

    def forward(self, x):
        return self.readout(torch.flatten(self.pool(self.features(x)), 1))


class ResidualAfterReluNet(nn.Module):
    """An RffConv stem, then Conv + BatchNorm + ReLU whose output is added to the stem's (a residual Add after ReLU),
    max pooling, a 1x1 RffConv, global average pooling and a linear readout."""

    def __init__(self, classes=3):
        super().__init__()
        self.stem = RffConv2d(1, 8, 3, sigma=2.0, padding=1, trainable=True, seed=7)
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.head = RffConv2d(8, 12, 1, sigma=3.0, trainable=True, seed=8)
        self.readout = nn.Linear(12, classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.pool(x + self.branch(x))
        return self.readout(torch.flatten(F.adaptive_avg_pool2d(self.head(x), 1), 1))


class Merge(nn.Module):
    """a + b, as a module so that the sum is hooked like every other feature map."""

    def forward(self, a, b):
        return a + b


class FpnNet(nn.Module):
    """An RffConv stem; a strided Conv + ReLU branch brought back up by nearest upsampling and added to the stem (a
    feature pyramid's top-down step); bilinear up- and downsampling (align_corners=False); a 1x1 RffConv, global average
    pooling and a linear readout."""

    def __init__(self, classes=3):
        super().__init__()
        self.stem = RffConv2d(1, 8, 3, sigma=2.0, padding=1, trainable=True, seed=10)
        self.down = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge = Merge()
        self.enlarge = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.shrink = nn.Upsample(scale_factor=0.5, mode="bilinear", align_corners=False)
        self.head = RffConv2d(8, 12, 1, sigma=3.0, trainable=True, seed=11)
        self.readout = nn.Linear(12, classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.merge(x, self.up(self.down(x)))
        x = self.head(self.shrink(self.enlarge(x)))
        return self.readout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _basic_block_forward(self, x):
    """torchvision's BasicBlock.forward with the residual sum out of place (`out + identity`, not `out += identity`),
    so the hooked BatchNorm output keeps its own value; the function, and so the export, are the same."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    return self.relu(self.bn2(self.conv2(out)) + identity)


def resnet18_rff_stem(classes=3):
    """torchvision's ResNet-18 with its first convolution replaced by an RffConv2d (7x7, stride 2), for gray images."""
    model = torchvision.models.resnet18(num_classes=classes)
    model.conv1 = RffConv2d(1, 64, 7, sigma=4.0, stride=2, padding=3, trainable=True, seed=9)
    for block in model.modules():
        if isinstance(block, torchvision.models.resnet.BasicBlock):
            block.forward = types.MethodType(_basic_block_forward, block)
    return model


def cam_references(model, x, target):
    """Activations of every feature module (and residual block) output, and of every ReLU's and max pooling's input
    (residual sums go straight into them: torchvision's blocks add before their last ReLU), with autograd's Grad-CAM and
    Layer-CAM of the target score."""
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, out, name=name: outputs.append((name, out)))
             for name, m in model.named_modules() if isinstance(m, FEATURE_MODULES + (ResidualRffBlock, Merge, nn.Upsample))]
    hooks += [m.register_forward_hook(lambda m, i, out, name=name: outputs.append((name + ":input", i[0])))
              for name, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
    try:
        score = model(x)[0, target]
    finally:
        for hook in hooks:
            hook.remove()
    maps = [(name, out) for name, out in outputs if out.dim() == 4 and out.shape[2] >= 2 and out.shape[3] >= 2]
    gradients = torch.autograd.grad(score, [out for _, out in maps])
    layers = []
    for (name, a), g in zip(maps, gradients):
        a, g = a[0].detach(), g[0]
        gradcam = F.relu((g.mean(dim=(1, 2))[:, None, None] * a).sum(0))
        layercam = F.relu((F.relu(g) * a).sum(0))
        layers.append({"module": name, "shape": list(a.shape), "activation": a.flatten().tolist(),
                       "gradcam": gradcam.flatten().tolist(), "layercam": layercam.flatten().tolist()})
    return layers


def blank_like(x):
    """The service's blank image: each channel filled with the median of its border (the upper median of an even count)."""
    blank = torch.empty_like(x)
    for c in range(x.shape[1]):
        plane = x[0, c]
        border = torch.cat([plane[0, :], plane[-1, :], plane[1:-1, 0], plane[1:-1, -1]]).sort().values
        blank[0, c] = border[len(border) // 2]
    return blank


def intervention_references(model, x, size, layers):
    """Torch's probabilities with activations switched off by a forward hook that replaces a module's output, as the
    service's ablate= does (A' = A + M (V - A)): listed channels at every cell; every channel at the cells whose centres
    lie in the image's top-left quarter; the same cells switched to the blank image's activations. For the first, a
    middle and the last feature module that runs once."""
    runs = {}
    for layer in layers:
        runs[layer["module"]] = runs.get(layer["module"], 0) + 1
    once = [layer for layer in layers if runs[layer["module"]] == 1 and not layer["module"].endswith(":input")]
    chosen = list({layer["module"]: layer for layer in [once[0], once[len(once) // 2], once[-1]]}.values())
    modules = dict(model.named_modules())
    blank = blank_like(x)
    references = []
    for layer in chosen:
        module = modules[layer["module"]]
        c, h, w = layer["shape"]
        half = size / 2
        centres_x = (torch.arange(w) + 0.5) * size / w
        centres_y = (torch.arange(h) + 0.5) * size / h
        cells = (centres_y[:, None] < half) & (centres_x[None, :] < half)
        captured = []
        hook = module.register_forward_hook(lambda m, i, out: captured.append(out.detach()))
        with torch.no_grad():
            model(blank)
        hook.remove()
        blank_activations = captured[0]
        channels = sorted({0, c // 2})
        listed = torch.zeros(1, c, h, w)
        listed[0, channels] = 1
        region = cells[None, None].expand(1, c, h, w).float()
        region_spec = f"all@0,0,{half:g},{half:g}"
        for spec, mask, value in [(",".join(map(str, channels)), listed, torch.zeros(1, c, h, w)),
                                  (region_spec, region, torch.zeros(1, c, h, w)),
                                  (region_spec + "=blank", region, blank_activations)]:
            hook = module.register_forward_hook(lambda m, i, out, mask=mask, value=value: out + mask * (value - out))
            with torch.no_grad():
                probabilities = torch.softmax(model(x), 1)[0]
            hook.remove()
            references.append({"module": layer["module"], "ablate": spec, "probabilities": probabilities.tolist()})
    return references


def classifier_case(out, name, model, size, *, opset=17, rff_form="custom", folding=True, with_config=True, images=3, seed=1,
                    plain=False):
    """plain: the first thing a user writes, torch.onnx.export(model, dummy, path, opset_version=...): no names, no
    dynamic axes (the batch is fixed at 1), and the layers' own onnx_form."""
    folder = os.path.join(out, "models", name, "1")
    os.makedirs(folder, exist_ok=True)
    metadata = {} if with_config else {"labels": json.dumps(LABELS), "mean": MEAN, "std": STD}
    path = os.path.join(folder, "model.onnx")
    if plain:
        # RffConv2d's onnx_form as set on the model's layers: "custom" leaves the operator without its definition.
        torch.onnx.export(model, torch.zeros(1, 1, size, size), path, opset_version=opset)
    else:
        export(model, torch.zeros(1, 1, size, size), path, opset=opset, rff_form=rff_form,
               input_names=["pixels"], output_names=["scores"], dynamic_axes={"pixels": {0: "batch"}, "scores": {0: "batch"}},
               do_constant_folding=folding, metadata=metadata)
    if with_config:
        config = {"task": "classification", "description": f"parity: {name}", "labels": LABELS,
                  "input": {"width": size, "height": size, "channels": 1, "mean": [MEAN], "std": [STD]}}
        if not plain:
            config["input"]["name"], config["output"] = "pixels", {"name": "scores"}
        write_json(os.path.join(out, "models", name, "config.json"), config)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(images):
        file, x = reference_image(out, name, i, rng, size)
        with torch.no_grad():
            probabilities = torch.softmax(model(x), 1)[0]
        target = int(probabilities.argmax())
        layers = cam_references(model, x, target)
        cases.append({"image": file, "probabilities": probabilities.tolist(), "target": target, "layers": layers,
                      "interventions": intervention_references(model, x, size, layers)})
    write_json(os.path.join(out, "references", f"{name}.json"), {"model": name, "task": "classification", "cases": cases})


class TinyRffSsd(nn.Module):
    """A raw-output SSD: an RffConv stem, convolution blocks, three maps (strides 8, 16, 32 at 64x64) and 3x3 heads;
    cls_logits [N, A, K + 1] and bbox_regression [N, A, 4] in torchvision's head layout and box coding."""

    def __init__(self, anchors_per_cell, classes=3):
        super().__init__()
        self.stem = nn.Sequential(RffConv2d(1, 12, 5, sigma=3.0, stride=2, padding=2, trainable=True, seed=3), nn.BatchNorm2d(12))
        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(12, 16, 3, 4, 1), nn.ReLU()),   # 8x8
            nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.ReLU()),   # 4x4
            nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.ReLU()),   # 2x2
        ])
        self.classes = classes
        self.cls = nn.ModuleList(nn.Conv2d(16, a * (classes + 1), 3, padding=1) for a in anchors_per_cell)
        self.box = nn.ModuleList(nn.Conv2d(16, a * 4, 3, padding=1) for a in anchors_per_cell)

    def forward(self, x):
        x = self.stem(x)
        scores, boxes = [], []
        for block, cls, box in zip(self.blocks, self.cls, self.box):
            x = block(x)
            n = x.shape[0]
            # torchvision's SSDHead layout: [N, A * K, H, W] -> [N, H, W, A, K] -> [N, H * W * A, K]
            scores.append(cls(x).view(n, -1, self.classes + 1, x.shape[2], x.shape[3]).permute(0, 3, 4, 1, 2).reshape(n, -1, self.classes + 1))
            boxes.append(box(x).view(n, -1, 4, x.shape[2], x.shape[3]).permute(0, 3, 4, 1, 2).reshape(n, -1, 4))
        return torch.cat(scores, 1), torch.cat(boxes, 1)


def ssd_case(out, images=3, seed=2):
    name, size = "rff-ssd", 64
    ratios, steps = [[2], [2, 3], [2]], [8, 16, 30]
    generator = DefaultBoxGenerator(ratios, min_ratio=0.2, max_ratio=0.6, steps=steps, clip=True)
    torch.manual_seed(seed)
    model = TinyRffSsd(generator.num_anchors_per_location()).eval()
    with torch.no_grad():  # a spread of scores and boxes, as after training
        for head in model.cls:
            head.bias.uniform_(-2, 2)
        for head in model.box:
            head.weight.mul_(3)
    folder = os.path.join(out, "models", name, "1")
    os.makedirs(folder, exist_ok=True)
    export(model, torch.zeros(1, 1, size, size), os.path.join(folder, "model.onnx"), input_names=["image"],
           output_names=["cls_logits", "bbox_regression"], dynamic_axes={"image": {0: "batch"}, "cls_logits": {0: "batch"}, "bbox_regression": {0: "batch"}})
    feature_maps = [{"width": s, "height": s, "aspectRatios": r} for s, r in zip([8, 4, 2], ratios)]
    config = {"task": "detection", "description": "parity: raw SSD outputs, torchvision's default boxes and box coder", "labels": LABELS,
              "input": {"name": "image", "width": size, "height": size, "channels": 1, "mean": [MEAN], "std": [STD]},
              "detection": {"layout": "ssd", "scoresOutput": "cls_logits", "boxesOutput": "bbox_regression", "backgroundClass": 0,
                            "variances": [0.1, 0.1, 0.2, 0.2],
                            "priors": {"style": "torchvision", "featureMaps": feature_maps, "minScale": 0.2, "maxScale": 0.6,
                                       "steps": steps, "clip": True}}}
    write_json(os.path.join(out, "models", name, "config.json"), config)

    # torchvision's own SSD post-processing, run on this model's outputs with torchvision's default boxes.
    thresholds = {"scoreThreshold": 0.05, "iouThreshold": 0.45, "maxDetections": 100}
    postprocess = types.SimpleNamespace(box_coder=det_utils.BoxCoder(weights=(10.0, 10.0, 5.0, 5.0)), score_thresh=thresholds["scoreThreshold"],
                                        topk_candidates=400, nms_thresh=thresholds["iouThreshold"], detections_per_img=thresholds["maxDetections"])
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(images):
        file, x = reference_image(out, name, i, rng, size)
        with torch.no_grad():
            scores, offsets = model(x)
            fake_maps = [torch.zeros(1, 1, s, s) for s in (8, 4, 2)]
            anchors = generator(torchvision.models.detection.image_list.ImageList(x, [(size, size)]), fake_maps)
            found = SSD.postprocess_detections(postprocess, {"cls_logits": scores, "bbox_regression": offsets}, anchors, [(size, size)])[0]
        cases.append({"image": file, "detections": detections_json(found)})
    write_json(os.path.join(out, "references", f"{name}.json"), {"model": name, "task": "detection", "thresholds": thresholds,
                                                                   "priors": generator._grid_default_boxes([[8, 8], [4, 4], [2, 2]], [size, size]).tolist(),
                                                                   "cases": cases})


def ssdlite_case(out, images=2, seed=3):
    """torchvision's SSDlite built by its own code (width 0.25, random weights, 3 classes plus background), exported the documented way."""
    name = "ssdlite"
    torch.manual_seed(seed)
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=len(LABELS) + 1,
                                                                      width_mult=0.25).eval()
    with torch.no_grad():  # torchvision's small initial weights make the outputs nearly constant: every detection would be a tie
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
    folder = os.path.join(out, "models", name, "1")
    os.makedirs(folder, exist_ok=True)
    example = [torch.rand(3, 320, 320)]
    with torch.no_grad():
        torch.onnx.export(model, (example,), os.path.join(folder, "model.onnx"), opset_version=11,
                          input_names=["images"], output_names=["boxes", "scores", "labels"])
    proto = onnx.load(os.path.join(folder, "model.onnx"))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "labels", json.dumps(LABELS)
    onnx.save(proto, os.path.join(folder, "model.onnx"))  # no config.json: the service infers it (torchvision's conventions)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(images):
        pixels = np.repeat(shapes_image(rng, 320, i % 3)[:, :, None], 3, axis=2)
        pixels[:, :, 1] = np.flipud(pixels[:, :, 1])
        file = f"{name}-{i}.png"
        png(os.path.join(out, "references", file), pixels)
        x = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0
        with torch.no_grad():
            found = model([x])[0]
        cases.append({"image": file, "detections": detections_json(found)})
    write_json(os.path.join(out, "references", f"{name}.json"), {"model": name, "task": "detection",
                                                                   "thresholds": {"scoreThreshold": 0.0, "iouThreshold": 0.55, "maxDetections": 300},
                                                                   "cases": cases})


def detections_json(found):
    """Labels as indices into LABELS (torchvision counts background as 0)."""
    return [{"label": int(l) - 1, "score": float(s), "box": [float(v) for v in b]}
            for b, s, l in zip(found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist())]


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


def main(out):
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(os.path.join(out, "references"), exist_ok=True)
    size = 24

    rff = train_briefly(RffCnn(widths=(8, 12), kernels=(3, 3), sigmas=(2.0, 3.0), pools=(2, 1), classes=3, seed=1), size)
    classifier_case(out, "rff-custom-17", rff, size)
    classifier_case(out, "rff-chain-17", rff, size, rff_form="chain")
    classifier_case(out, "rff-chain-13-unfolded", rff, size, rff_form="chain", opset=13, folding=False)
    classifier_case(out, "rff-custom-13-unfolded-inferred", rff, size, opset=13, folding=False, with_config=False)

    hybrid = train_briefly(HybridRffCnn(stem=8, widths=(12, 12), head=16, sigmas=(3.0, 4.0), classes=3, seed=2, pool_after=(0,)), size)
    classifier_case(out, "hybrid-17", hybrid, size)
    classifier_case(out, "hybrid-chain-13-unfolded", hybrid, size, rff_form="chain", opset=13, folding=False)

    residual = train_briefly(ResidualNet(), size)
    classifier_case(out, "residual-17", residual, size)
    classifier_case(out, "residual-13-unfolded", residual, size, opset=13, folding=False)

    # Piecewise-linear paths (max pooling between RFF layers, residual additions, ReLU) at opsets 13 and 17: every
    # layer is offered and equals torch autograd.
    pooled = train_briefly(RffCnn(widths=(8, 12, 16), kernels=(3, 3, 3), sigmas=(2.0, 4.0, 6.0), pools=(2, 2, 1), classes=3, seed=3), size)
    classifier_case(out, "rff-maxpool-17", pooled, size)
    classifier_case(out, "rff-maxpool-chain-13", pooled, size, rff_form="chain", opset=13)
    after_relu = train_briefly(ResidualAfterReluNet(), size)
    classifier_case(out, "residual-after-relu-13", after_relu, size, opset=13)
    resnet = train_briefly(resnet18_rff_stem(), 32, steps=20)
    classifier_case(out, "resnet18-rff-17", resnet, 32, images=2)
    # The plain export with the layers set to the custom form: the operator without its definition, a batch fixed at
    # 1, default names.
    resnet.conv1.onnx_form = "custom"
    classifier_case(out, "resnet18-plain-13", resnet, 32, opset=13, images=2, plain=True)
    # Feature-pyramid upsampling (Resize nearest and bilinear) between RFF layers.
    fpn = train_briefly(FpnNet(), size)
    classifier_case(out, "fpn-resize-17", fpn, size)

    ssd_case(out)
    ssdlite_case(out)


if __name__ == "__main__":
    main(sys.argv[1])
