import os
import struct

import numpy as np
import torch

import train_classifier
from training import load_checkpoint

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


def test_freeze_keeps_the_first_modules_and_trains_the_rest(tmp_path):
    data, first, second = (str(tmp_path / name) for name in ("data", "first", "second"))
    tiny_data(data)
    train_classifier.main(arguments(data, first))
    start = load_checkpoint(os.path.join(first, "checkpoint.pt"), "cpu")["best"][1]
    # The hybrid stack: RffConv stem, pooling, then convolution, BatchNorm, ReLU; freezing 5 keeps the first block too.
    train_classifier.main(arguments(data, second, "--init", os.path.join(first, "checkpoint.pt"), "--freeze", "5", "--lr", "1e-2"))
    tuned = load_checkpoint(os.path.join(second, "checkpoint.pt"), "cpu")["best"][1]
    kept = [k for k in start if k.split(".")[:2] in (["features", "0"], ["features", "2"], ["features", "3"])]
    moved = [k for k in start if k.startswith("readout.") or k.startswith("features.5.")]
    assert any("running_mean" in k for k in kept) and len(moved) >= 3
    assert all(torch.equal(start[k], tuned[k]) for k in kept)
    assert all(not torch.equal(start[k], tuned[k]) for k in moved)


def test_distillation_mixes_labels_with_the_teachers_softened_predictions():
    args = train_classifier.parse(["--label-smoothing", "0", "--distill-weight", "0.25", "--temperature", "3"])
    student = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3]])
    teacher = torch.tensor([[1.0, 1.5, -0.5], [0.2, 2.0, -1.0]])
    labels = torch.tensor([0, 1])

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    s, t = student.numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    ce = -np.log(softmax(s)[[0, 1], labels.numpy()]).mean()
    p, q = softmax(t / 3), softmax(s / 3)
    kl = (p * (np.log(p) - np.log(q))).sum(1).mean()
    expected = 0.75 * ce + 0.25 * 9 * kl
    assert abs(train_classifier.classification_loss(student, labels, teacher, args).item() - expected) < 1e-5
    assert abs(train_classifier.classification_loss(student, labels, None, args).item() - ce) < 1e-5
    assert abs(train_classifier.classification_loss(student, labels, student, args).item() - 0.75 * ce) < 1e-5
