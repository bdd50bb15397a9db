"""Fashion-MNIST from RffService's data cache (data/fashion-mnist/*.bin, written by the trainer's fetch-data command)."""

import os

import numpy as np

MAGIC = b"RFFDS1"


def _read_string(buffer, offset):
    """A .NET BinaryWriter string: 7-bit-encoded byte length, then UTF-8."""
    length, shift = 0, 0
    while True:
        byte = buffer[offset]
        offset += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return buffer[offset:offset + length].decode("utf-8"), offset + length


def load(path):
    """Returns (images uint8 [N, H, W], labels int64 [N], class names)."""
    with open(path, "rb") as f:
        buffer = f.read()
    if buffer[:len(MAGIC)] != MAGIC:
        raise ValueError(f"{path} is not an RffService data set file (run fetch-data first)")
    count, height, width, classes = np.frombuffer(buffer, dtype="<i4", count=4, offset=len(MAGIC))
    offset = len(MAGIC) + 16
    names = []
    for _ in range(classes):
        name, offset = _read_string(buffer, offset)
        names.append(name)
    labels = np.frombuffer(buffer, dtype=np.uint8, count=count, offset=offset).astype(np.int64)
    offset += count
    pixels = np.frombuffer(buffer, dtype=np.uint8, count=count * height * width, offset=offset)
    return pixels.reshape(count, height, width).copy(), labels.copy(), names


def fashion(data_root="data"):
    """(train, test) pairs of (images, labels) and the class names, from the fixed split of fetch-data."""
    train_x, train_y, names = load(os.path.join(data_root, "fashion-mnist", "train.bin"))
    test_x, test_y, _ = load(os.path.join(data_root, "fashion-mnist", "test.bin"))
    return (train_x, train_y), (test_x, test_y), names


# Pixel statistics of the Fashion-MNIST training split on [0, 1], as the models' config.json declares them.
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
