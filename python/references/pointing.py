"""A quick pointing-game check of a trained RffCnn in PyTorch (cam and layercam on the last RFF layer, relative to a
blank image, as the service computes them by default). The reference figures come from the service itself."""

import numpy as np
import torch
import torch.nn.functional as F

import fashion_mnist as fmnist
from rffconv.layers import RffConv2d

SIDE = 56


def canvases(images, labels, count, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))[:count]
    out = []
    for i in order:
        while True:
            x, y = (int(v) for v in rng.integers(0, SIDE - 28 + 1, 2))
            if not (abs(x - 14) < 6 and abs(y - 14) < 6):
                break
        canvas = np.zeros((SIDE, SIDE), np.uint8)
        canvas[y:y + 28, x:x + 28] = images[i]
        rows, cols = np.nonzero(images[i])
        if len(rows) == 0:
            continue
        out.append((canvas, int(labels[i]), (x + cols.min(), y + rows.min(), x + cols.max(), y + rows.max())))
    return out


@torch.no_grad()
def play(model, items, device="cpu"):
    """Hit rates of cam and layercam: the map's peak (at canvas resolution) inside the item's box."""
    model.eval()
    last = [m for m in model.features if isinstance(m, RffConv2d)][-1]
    captured = {}
    hook = last.register_forward_hook(lambda _m, _i, out: captured.__setitem__("a", out))
    weights = model.readout.weight
    hits = {"cam": 0, "layercam": 0}
    for canvas, label, (x0, y0, x1, y1) in items:
        x = (torch.from_numpy(canvas).float()[None, None] / 255 - fmnist.FASHION_MEAN) / fmnist.FASHION_STD
        blank = torch.full_like(x, float(np.median(np.concatenate([canvas[0], canvas[-1], canvas[:, 0], canvas[:, -1]]))))
        blank = (blank / 255 - fmnist.FASHION_MEAN) / fmnist.FASHION_STD
        model(blank.to(device))
        reference = captured["a"][0]
        model(x.to(device))
        a = captured["a"][0] - reference
        w = weights[label][:, None, None]
        maps = {"cam": (w * a).sum(0), "layercam": F.relu((F.relu(w) * a).sum(0))}
        for name, m in maps.items():
            up = F.interpolate(m[None, None], size=(SIDE, SIDE), mode="bilinear", align_corners=False)[0, 0]
            py, px = divmod(int(up.argmax()), SIDE)
            hits[name] += x0 <= px <= x1 and y0 <= py <= y1
    hook.remove()
    return {k: v / len(items) for k, v in hits.items()}
