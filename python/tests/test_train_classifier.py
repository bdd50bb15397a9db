import os
import struct

import numpy as np
import torch

from rffconv import train_classifier
from rffconv.training import load_checkpoint

NAMES = [f"class {i}" for i in range(10)]


def write_cache(path, images, labels):
    """A data set file in the trainer's cache format (what fetch-data writes)."""
    with open(path, "wb") as f:
        f.write(b"RFFDS1" + struct.pack("<4i", len(images), 28, 28, len(NAMES)))
        for name in NAMES:
            encoded = name.encode("utf-8")
            f.write(bytes([len(encoded)]) + encoded)
        f.write(labels.astype(np.uint8).tobytes() + images.astype(np.uint8).tobytes())


def tiny_data(root):
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "fashion-mnist"))
    for split, count in (("train", 96), ("test", 32)):
        images = np.zeros((count, 28, 28), np.uint8)
        images[:, 6:22, 6:22] = rng.integers(1, 256, (count, 16, 16))
        write_cache(os.path.join(root, "fashion-mnist", f"{split}.bin"), images, rng.integers(0, 10, count))


def arguments(data, out, *extra):
    return ["--data", data, "--out", out, "--architecture", "hybrid", "--widths", "4,8,8", "--sigmas", "4,8",
            "--epochs", "1", "--batch", "16", "--validation", "16", "--threads", "1", *extra]


def test_a_run_saves_its_best_weights_and_another_run_starts_from_them(tmp_path):
    data, first, second = (str(tmp_path / name) for name in ("data", "first", "second"))
    tiny_data(data)
    report = train_classifier.main(arguments(data, first))
    assert {"testAccuracy", "history", "confusionMatrix", "pointingGameCheck"} <= report.keys()
    assert os.path.exists(os.path.join(first, "model.onnx"))
    best = load_checkpoint(os.path.join(first, "checkpoint.pt"), "cpu")["best"][1]

    # A learning rate of zero leaves the parameters as they were loaded (BatchNorm's running statistics still move).
    train_classifier.main(arguments(data, second, "--init", os.path.join(first, "checkpoint.pt"), "--lr", "0"))
    tuned = load_checkpoint(os.path.join(second, "checkpoint.pt"), "cpu")["best"][1]
    model = train_classifier.build_model(train_classifier.parse(arguments(data, second)), len(NAMES))
    parameters = {name for name, _ in model.named_parameters()}
    assert parameters and all(torch.equal(best[name], tuned[name]) for name in parameters)
    # And a model built from scratch differs from them.
    assert not all(torch.equal(best[name], model.state_dict()[name]) for name in parameters)
