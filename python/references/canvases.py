"""Multi-object detection canvases, deterministic from (seed, index).

Each canvas is a gray size x size image holding 1-6 Fashion-MNIST items, light on dark, each scaled to a side of
24-80 pixels and placed so that it overlaps the others only partly (at most ``max_overlap`` of the smaller item's
square). The background is one of four kinds: flat with noise, sinusoidal gratings, a linear gradient, or a smooth
random texture; Gaussian noise is added to all. Items are composited with max() and their pixels darker than
``THRESHOLD`` are transparent; an item's box is the tight box of its pixels brighter than the threshold.
RffService's C# CanvasGenerator follows the same recipe (with its own random stream).
"""

import numpy as np

THRESHOLD = 24
BACKGROUNDS = ("noise", "gratings", "gradient", "texture")


def scale_bilinear(image, side):
    """Bilinear resize of a square uint8 image to side x side, pixel centres aligned (as the C# generator)."""
    source = image.shape[0]
    ratio = source / side
    coords = np.clip((np.arange(side) + 0.5) * ratio - 0.5, 0, source - 1)
    lo = coords.astype(np.int64)
    hi = np.minimum(lo + 1, source - 1)
    frac = (coords - lo).astype(np.float32)
    img = image.astype(np.float32)
    rows = img[lo] * (1 - frac)[:, None] + img[hi] * frac[:, None]
    out = rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]
    return np.round(out)


def background(rng, size):
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    level = rng.uniform(5, 60)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "noise":
        v = np.full((size, size), level, np.float32)
    elif kind == "gratings":
        v = np.full((size, size), level, np.float32)
        for _ in range(rng.integers(1, 3)):
            fx, fy = rng.uniform(-0.5, 0.5, 2)
            v += rng.uniform(5, 25) * np.sin(fx * x + fy * y + rng.uniform(0, 2 * np.pi))
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * x + np.sin(angle) * y) / size
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        v = level + rng.uniform(-50, 50) * t
    else:  # texture: a coarse random grid, smoothly upsampled
        cells = int(rng.integers(3, 13))
        grid = rng.uniform(-1, 1, (cells, cells))
        v = level + rng.uniform(10, 35) * scale_bilinear_float(grid, size)
    v = v + rng.uniform(2, 10) * rng.standard_normal((size, size))
    return np.clip(np.round(v), 0, 255)


def scale_bilinear_float(grid, side):
    source = grid.shape[0]
    coords = np.clip((np.arange(side) + 0.5) * (source / side) - 0.5, 0, source - 1)
    lo = coords.astype(np.int64)
    hi = np.minimum(lo + 1, source - 1)
    frac = coords - lo
    rows = grid[lo] * (1 - frac)[:, None] + grid[hi] * frac[:, None]
    return (rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]).astype(np.float32)


def overlap(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    return 0.0 if w <= 0 or h <= 0 else w * h / min(a[2] * a[2], b[2] * b[2])


class CanvasGenerator:
    def __init__(self, images, labels, size=128, seed=1, min_side=24, max_side=80, max_objects=6, max_overlap=0.35):
        self.images, self.labels, self.size, self.seed = images, labels, size, seed
        self.min_side, self.max_side, self.max_objects, self.max_overlap = min_side, max_side, max_objects, max_overlap

    def make(self, index):
        """(pixels uint8 [size, size], boxes float32 [n, 4] as x_min, y_min, x_max, y_max in pixels, labels int64 [n])."""
        rng = np.random.default_rng([self.seed, index])
        canvas = background(rng, self.size)
        placed, boxes, labels = [], [], []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            item = int(rng.integers(len(self.images)))
            side = int(rng.integers(self.min_side, self.max_side + 1))
            contrast = rng.uniform(0.7, 1.0)
            for _attempt in range(30):
                x, y = (int(v) for v in rng.integers(0, self.size - side + 1, 2))
                if any(overlap(p, (x, y, side)) > self.max_overlap for p in placed):
                    continue
                scaled = scale_bilinear(self.images[item], side)
                mask = scaled > THRESHOLD
                if mask.any():
                    region = canvas[y:y + side, x:x + side]
                    region[mask] = np.maximum(region[mask], np.round(scaled[mask] * contrast))
                    rows, cols = np.nonzero(mask)
                    placed.append((x, y, side))
                    boxes.append([x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1])
                    labels.append(int(self.labels[item]))
                break
        return (canvas.astype(np.uint8), np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64))
