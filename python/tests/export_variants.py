"""One network with RffConv2d layers exported every way a user might: plainly at opsets 11 to 17 (with and without
constant folding, with and without dynamic axes), with the layers' custom form (the operator without its
definition), with the package's export(), and as a TorchScript-traced module.

    PYTHONPATH=python /usr/bin/python3 python/tests/export_variants.py OUT

writes OUT/models/<variant>/1/model.onnx with config.json, and OUT/references/<variant>.json with the test images and
torch's probabilities. The C# suite (ExportVariantTests) serves OUT/models and compares.
"""

import os
import sys

import numpy as np
import torch
from torch import nn

from parity_models import LABELS, MEAN, STD, reference_image, write_json
from rffconv.layers import RffConv2d
from rffconv.onnx_export import export

SIZE = 24


def network():
    torch.manual_seed(3)
    model = nn.Sequential(
        RffConv2d(1, 8, 3, sigma=2.0, padding=1, trainable=True, seed=1), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
        RffConv2d(12, 16, 1, sigma=3.0, trainable=True, seed=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))
    with torch.no_grad():  # BatchNorm statistics that are not the initial ones
        model[3].running_mean.uniform_(-0.5, 0.5)
        model[3].running_var.uniform_(0.5, 2.0)
    return model.eval()


def set_form(model, form):
    for m in model.modules():
        if isinstance(m, RffConv2d):
            m.onnx_form = form


def variants(model, dummy):
    """name -> a function writing the model to a path."""
    dynamic = {"input": {0: "batch"}, "output": {0: "batch"}}
    names = dict(input_names=["input"], output_names=["output"])

    def plain(opset, form="chain", **kwargs):
        def write(path):
            set_form(model, form)
            try:
                torch.onnx.export(model, dummy, path, opset_version=opset, **kwargs)
            finally:
                set_form(model, "chain")
        return write

    def traced(path):
        torch.onnx.export(torch.jit.trace(model, dummy), dummy, path, opset_version=13)

    return {
        "plain-11": plain(11),
        "plain-12-unfolded": plain(12, do_constant_folding=False),
        "plain-13-dynamic": plain(13, dynamic_axes=dynamic, **names),
        "plain-15": plain(15),
        "plain-17-unfolded-dynamic": plain(17, do_constant_folding=False, dynamic_axes=dynamic, **names),
        "custom-11": plain(11, form="custom"),
        "custom-17-dynamic": plain(17, form="custom", dynamic_axes=dynamic, **names),
        "export-11": lambda path: export(model, dummy, path, opset=11),
        "export-17-chain": lambda path: export(model, dummy, path, opset=17, rff_form="chain"),
        "traced-13": traced,
    }


def main(out):
    torch.set_num_threads(1)
    os.makedirs(os.path.join(out, "references"), exist_ok=True)
    model = network()
    dummy = torch.zeros(1, 1, SIZE, SIZE)
    for name, write in variants(model, dummy).items():
        folder = os.path.join(out, "models", name, "1")
        os.makedirs(folder, exist_ok=True)
        write(os.path.join(folder, "model.onnx"))
        write_json(os.path.join(out, "models", name, "config.json"), {
            "task": "classification", "description": f"export variant {name}", "labels": LABELS,
            "input": {"width": SIZE, "height": SIZE, "channels": 1, "mean": [MEAN], "std": [STD]}})
        rng = np.random.default_rng(5)
        cases = []
        for i in range(2):
            file, x = reference_image(out, name, i, rng, SIZE)
            with torch.no_grad():
                cases.append({"image": file, "probabilities": torch.softmax(model(x), 1)[0].tolist()})
        write_json(os.path.join(out, "references", f"{name}.json"), {"model": name, "task": "classification", "cases": cases})


if __name__ == "__main__":
    main(sys.argv[1])
