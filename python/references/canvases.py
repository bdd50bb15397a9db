"""Multi-object detection canvases, deterministic from (seed, index), in three scene families.

"original": a gray size x size image holding 1-6 Fashion-MNIST items, light on dark, each scaled to a side of 24-80
pixels and placed at random so that it overlaps the others only partly (at most ``max_overlap`` of the smaller item's
square). The background is one of four kinds: flat with noise, sinusoidal gratings, a linear gradient, or a smooth
random texture; Gaussian noise is added to all. RffService's C# CanvasGenerator follows this recipe (with its own
random stream): the service's in-distribution test.

"training": what the detector is trained on, wider than "original": 1-8 items of 20-43 or 56-96 px (sides 44-55 are
never drawn), contrast 0.55-1, mirrored half the time, a random overlap limit, and three more background kinds (soft
blobs, hard-edged bands, a "dead leaves" mosaic of rectangles), brighter levels and stronger noise.

"held-out": what training never draws, for evaluation only: checkerboard or concentric-ring backgrounds, items of
44-55 px, laid out on a 2x2 grid or in a chain along a diagonal, each overlapping the previous one.

"probe": the held-out layouts and sizes on three more backgrounds training never draws (a lattice of discs, radial
spokes, scattered line segments). Held-out results steered the choice of training backgrounds; these never steered
anything, so they tell whether what was learnt carries over to scenes nobody looked at.

Items are composited with max() and their pixels darker than ``THRESHOLD`` are transparent; an item's box is the tight
box of its pixels brighter than the threshold.
"""

import numpy as np

THRESHOLD = 24
BACKGROUNDS = ("noise", "gratings", "gradient", "texture")
TRAINING_BACKGROUNDS = BACKGROUNDS + ("blobs", "bands", "mosaic")
HELD_OUT_BACKGROUNDS = ("checker", "rings")
PROBE_BACKGROUNDS = ("dots", "spokes", "scribbles")
HELD_OUT_SIDES = (44, 55)  # item sides only held-out scenes draw
TRAINING_SIDES = np.r_[20:HELD_OUT_SIDES[0], HELD_OUT_SIDES[1] + 1:97]  # 20-43 and 56-96 px
SCENES = ("original", "training", "held-out", "probe")


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


def background(rng, size, kinds=BACKGROUNDS, levels=(5, 60), noise=(2, 10)):
    kind = kinds[rng.integers(len(kinds))]
    level = rng.uniform(*levels)
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
    elif kind == "texture":  # a coarse random grid, smoothly upsampled
        cells = int(rng.integers(3, 13))
        grid = rng.uniform(-1, 1, (cells, cells))
        v = level + rng.uniform(10, 35) * scale_bilinear_float(grid, size)
    elif kind == "blobs":  # soft Gaussian spots, brighter or darker than the level
        v = np.full((size, size), level, np.float32)
        for _ in range(rng.integers(2, 9)):
            cx, cy = rng.uniform(0, size, 2)
            radius = rng.uniform(4, 30)
            v += rng.uniform(-40, 40) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius ** 2))
    elif kind == "bands":  # hard-edged stripes of random widths and levels at a random angle
        angle = rng.uniform(0, np.pi)
        t = np.cos(angle) * x + np.sin(angle) * y
        edges = np.sort(rng.uniform(t.min(), t.max(), rng.integers(2, 8)))
        v = level + rng.uniform(-30, 30, len(edges) + 1)[np.searchsorted(edges, t)]
    elif kind == "mosaic":  # dead leaves: rectangles of random sizes, levels and angles, each hiding those under it
        angle = rng.uniform(0, np.pi / 2) if rng.random() < 0.5 else 0.0
        u, w = np.cos(angle) * x + np.sin(angle) * y, -np.sin(angle) * x + np.cos(angle) * y
        v = np.full((size, size), level, np.float32)
        for _ in range(rng.integers(8, 61)):
            cu, cw = rng.uniform(u.min(), u.max()), rng.uniform(w.min(), w.max())
            half_u, half_w = rng.uniform(2, 24, 2)
            v[(np.abs(u - cu) < half_u) & (np.abs(w - cw) < half_w)] = level + rng.uniform(-35, 35)
    elif kind == "checker":  # held out: a possibly rotated checkerboard of two levels
        angle, cell = rng.uniform(0, np.pi / 2), rng.uniform(6, 24)
        u, w = np.cos(angle) * x + np.sin(angle) * y, -np.sin(angle) * x + np.cos(angle) * y
        v = level + rng.uniform(10, 35) * ((np.floor(u / cell) + np.floor(w / cell)) % 2)
    elif kind == "rings":  # held out: concentric rings around a random centre
        cx, cy = rng.uniform(-size / 2, 1.5 * size, 2)
        period = rng.uniform(8, 30)
        v = level + rng.uniform(8, 25) * np.cos(2 * np.pi * np.hypot(x - cx, y - cy) / period)
    elif kind == "dots":  # probe: a lattice of discs
        period = rng.uniform(8, 24)
        radius = rng.uniform(0.2, 0.45) * period
        ox, oy = rng.uniform(0, period, 2)
        v = level + rng.uniform(10, 35) * (np.hypot((x - ox) % period - period / 2, (y - oy) % period - period / 2) < radius)
    elif kind == "spokes":  # probe: radial spokes from a random centre
        cx, cy = rng.uniform(0, size, 2)
        v = level + rng.uniform(10, 35) * (np.sin(rng.integers(6, 24) * np.arctan2(y - cy, x - cx)) > 0)
    elif kind == "scribbles":  # probe: bright line segments, one pixel wide
        v = np.full((size, size), level, np.float32)
        t = np.linspace(0, 1, 200)
        for _ in range(rng.integers(5, 25)):
            x0, y0, x1, y1 = rng.uniform(0, size, 4)
            columns = np.clip((x0 + t * (x1 - x0)).astype(int), 0, size - 1)
            rows = np.clip((y0 + t * (y1 - y0)).astype(int), 0, size - 1)
            v[rows, columns] = level + rng.uniform(15, 45)
    else:
        raise ValueError(f"unknown background {kind}")
    v = v + rng.uniform(*noise) * rng.standard_normal((size, size))
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
    def __init__(self, images, labels, size=128, seed=1, min_side=24, max_side=80, max_objects=6, max_overlap=0.35,
                 scene="original", backgrounds=None):
        """backgrounds: held-out and probe scenes only, the background kinds to draw instead of the family's own (to
        measure one kind at a time: the layouts, sizes and items stay those of the scene)."""
        if scene not in SCENES:
            raise ValueError(f"scene must be one of {SCENES}, got {scene}")
        if backgrounds is not None and scene not in ("held-out", "probe"):
            raise ValueError("backgrounds= applies to the held-out and probe scenes only")
        self.images, self.labels, self.size, self.seed, self.scene = images, labels, size, seed, scene
        self.backgrounds = tuple(backgrounds) if backgrounds else (HELD_OUT_BACKGROUNDS if scene == "held-out" else PROBE_BACKGROUNDS)
        self.min_side, self.max_side, self.max_objects, self.max_overlap = min_side, max_side, max_objects, max_overlap

    def make(self, index):
        """(pixels uint8 [size, size], boxes float32 [n, 4] as x_min, y_min, x_max, y_max in pixels, labels int64 [n])."""
        rng = np.random.default_rng([self.seed, index])
        if self.scene == "original":
            canvas = background(rng, self.size)
            count = int(rng.integers(1, self.max_objects + 1))
            look = lambda: (self._side(rng, self.min_side, self.max_side), rng.uniform(0.7, 1.0), False)
            return self._compose(rng, canvas, count, look, lambda side, placed: self._scatter(rng, side, placed, self.max_overlap))
        if self.scene == "training":
            canvas = background(rng, self.size, TRAINING_BACKGROUNDS, levels=(0, 70), noise=(0, 15))
            count, max_overlap = int(rng.integers(1, 9)), rng.uniform(0.0, self.max_overlap)
            look = lambda: (int(rng.choice(TRAINING_SIDES)), rng.uniform(0.55, 1.0), bool(rng.random() < 0.5))
            return self._compose(rng, canvas, count, look, lambda side, placed: self._scatter(rng, side, placed, max_overlap))
        canvas = background(rng, self.size, self.backgrounds)
        count = int(rng.integers(2, 5))
        look = lambda: (self._side(rng, *HELD_OUT_SIDES), rng.uniform(0.7, 1.0), False)
        return self._compose(rng, canvas, count, look, self._grid(rng) if rng.random() < 0.5 else self._diagonal(rng))

    @staticmethod
    def _side(rng, low, high):
        return int(rng.integers(low, high + 1))


    def _scatter(self, rng, side, placed, max_overlap):
        for _attempt in range(30):
            x, y = (int(v) for v in rng.integers(0, self.size - side + 1, 2))
            if not any(overlap(p, (x, y, side)) > max_overlap for p in placed):
                return x, y
        return None

    def _grid(self, rng):
        """Items centred in the cells of a 2x2 grid, in a random order of cells, a few pixels of jitter."""
        cells = rng.permutation(4)
        half = self.size // 2

        def place(side, placed):
            if len(placed) >= 4:
                return None
            row, col = divmod(int(cells[len(placed)]), 2)
            jitter = rng.integers(-3, 4, 2)
            x = int(np.clip(col * half + (half - side) // 2 + jitter[0], 0, self.size - side))
            y = int(np.clip(row * half + (half - side) // 2 + jitter[1], 0, self.size - side))
            return x, y
        return place

    def _diagonal(self, rng):
        """A chain of items along a diagonal, each overlapping the previous one (10-30% of the smaller square)."""
        down = rng.random() < 0.5
        chain = []  # (offset along the diagonal, side) of the items placed so far

        def place(side, placed):
            offset = 0
            if chain:
                previous, previous_side = chain[-1]
                # Overlapping the previous square by sqrt(u) of the smaller side on each axis: u of its area.
                offset = previous + previous_side - int(round(min(previous_side, side) * np.sqrt(rng.uniform(0.1, 0.3))))
            if offset + side > self.size:
                return None
            chain.append((offset, side))
            return offset, (self.size - side - offset if down else offset)
        return place

    def _compose(self, rng, canvas, count, look, layout):
        """Draws count items (look() gives side, contrast, mirrored) and places each where layout(side, placed) says,
        skipping an item it has no place for."""
        placed, boxes, labels = [], [], []
        for _ in range(count):
            item = int(rng.integers(len(self.images)))
            side, contrast, mirrored = look()
            position = layout(side, placed)
            if position is None:
                continue
            x, y = position
            scaled = scale_bilinear(self.images[item][:, ::-1] if mirrored else self.images[item], side)
            mask = scaled > THRESHOLD
            if mask.any():
                region = canvas[y:y + side, x:x + side]
                region[mask] = np.maximum(region[mask], np.round(scaled[mask] * contrast))
                rows, cols = np.nonzero(mask)
                placed.append((x, y, side))
                boxes.append([x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1])
                labels.append(int(self.labels[item]))
        return (canvas.astype(np.uint8), np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64))
