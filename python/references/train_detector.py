"""Trains the RFF-SSD detector end to end on multi-object canvases generated on the fly (never the same canvas
twice), with checkpoints to resume, validation mAP on held-out canvases, ONNX export with the ai.rff::RffConv
operator, and a config.json for RffService's model repository (raw "ssd" layout: the service decodes and suppresses).

    PYTHONPATH=python python3 python/references/train_detector.py --out runs/detector --steps 12000
"""

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import torchvision

import fashion_mnist as fmnist
from rffconv import ssd
from canvases import CanvasGenerator
from metrics import average_precision
from rffconv.models import RffSsd
from rffconv.onnx_export import export
from training import Progress, load_checkpoint, save_checkpoint, setup

_GENERATOR = None


def _init_worker(images, labels, size, seed):
    global _GENERATOR
    _GENERATOR = CanvasGenerator(images, labels, size=size, seed=seed)


def _make(index):
    return _GENERATOR.make(index)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data")
    p.add_argument("--out", default="runs/detector")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--stem", type=int, default=32)
    p.add_argument("--widths", type=lambda t: [int(v) for v in t.split(",")], default=[48, 64, 96, 128, 128, 128])
    p.add_argument("--sigma", type=float, default=4.0)
    p.add_argument("--min-scale", type=float, default=0.15)
    p.add_argument("--max-scale", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=12000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--validation-items", type=int, default=5000, help="training items kept out of the training canvases")
    p.add_argument("--validation-canvases", type=int, default=500)
    p.add_argument("--evaluate-every", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes that draw canvases (0 = in the training process)")
    p.add_argument("--resume", action="store_true")
    return p.parse_args(argv)


def to_batch(canvases, size):
    x = torch.from_numpy(np.stack([c[0] for c in canvases])).unsqueeze(1)
    x = (x.float() / 255.0 - fmnist.FASHION_MEAN) / fmnist.FASHION_STD
    boxes = [torch.from_numpy(c[1]) / size for c in canvases]
    labels = [torch.from_numpy(c[2]) for c in canvases]
    return x, boxes, labels


@torch.no_grad()
def detect(model, x, score_threshold=0.01, iou_threshold=0.45, max_detections=100):
    """Softmax, per-class threshold, decoding, class-aware NMS: what the service's SsdDecoder does."""
    scores, offsets = model(x)
    probabilities = scores.softmax(-1)[..., 1:]
    boxes = ssd.decode(offsets, model.prior_boxes.to(x.device)).clamp(0, 1)
    results = []
    for p, b in zip(probabilities, boxes):
        keep_prior, keep_class = torch.nonzero(p > score_threshold, as_tuple=True)
        s, bb = p[keep_prior, keep_class], b[keep_prior]
        order = torchvision.ops.batched_nms(bb, s, keep_class, iou_threshold)[:max_detections]
        results.append((bb[order].cpu(), s[order].cpu(), keep_class[order].cpu()))
    return results


def evaluate(model, canvases, size, device, classes):
    model.eval()
    detections, truths = [], []
    for start in range(0, len(canvases), 50):
        chunk = canvases[start:start + 50]
        x, _, _ = to_batch(chunk, size)
        for i, (b, s, c) in enumerate(detect(model, x.to(device))):
            image = start + i
            truths.append((chunk[i][1], chunk[i][2]))
            for box, score, cls in zip((b * size).numpy(), s.numpy(), c.numpy()):
                detections.append((image, int(cls), float(score), box))
    return average_precision(detections, truths, classes)


def service_config(model, names, args):
    return {
        "task": "detection",
        "description": "RFF-SSD trained end to end with PyTorch (python/references/train_detector.py): RffConv stem, convolution blocks, "
                       "feature maps at strides 8, 16, 32, 64, 3x3 class and box heads.",
        "trained": True,
        "labels": names,
        "input": {"name": "input", "width": args.size, "height": args.size, "channels": 1, "layout": "NCHW",
                  "mean": [fmnist.FASHION_MEAN], "std": [fmnist.FASHION_STD], "resize": "letterbox",
                  "expects": "gray canvases of Fashion-MNIST-like items, light on a darker background, 24-80 px each"},
        "batching": {"maxBatchSize": 8},
        "detection": {
            "layout": "ssd", "scoresOutput": "scores", "boxesOutput": "boxes", "backgroundClass": 0,
            "scoresAreProbabilities": False, "variances": list(ssd.VARIANCES),
            "priors": {"featureMaps": [{"width": w, "height": h, "aspectRatios": r} for w, h, r in model.feature_maps],
                       "minScale": args.min_scale, "maxScale": args.max_scale, "clip": False},
        },
    }


def main(argv=None):
    args = parse(argv)
    device = setup(args.threads, args.seed)
    os.makedirs(args.out, exist_ok=True)
    (train_x, train_y), _, names = fmnist.fashion(args.data)
    order = np.random.default_rng(args.seed).permutation(len(train_x))
    val_items, fit_items = order[:args.validation_items], order[args.validation_items:]
    validation = CanvasGenerator(train_x[val_items], train_y[val_items], size=args.size, seed=args.seed + 1000)
    val_canvases = [validation.make(i) for i in range(args.validation_canvases)]

    model = RffSsd(classes=len(names), size=args.size, stem=args.stem, widths=args.widths, sigma=args.sigma,
                   min_scale=args.min_scale, max_scale=args.max_scale, seed=args.seed).to(device)
    priors = model.prior_boxes.cpu()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps, pct_start=0.05)
    checkpoint_path = os.path.join(args.out, "checkpoint.pt")
    step, history = 0, []
    state = load_checkpoint(checkpoint_path, device) if args.resume else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history = state["step"], state["history"]
        print(f"resumed at step {step}")

    pool = ProcessPoolExecutor(args.workers, initializer=_init_worker,
                               initargs=(train_x[fit_items], train_y[fit_items], args.size, args.seed)) if args.workers else None
    generator = CanvasGenerator(train_x[fit_items], train_y[fit_items], size=args.size, seed=args.seed)

    def canvases_for(s):
        indices = range(s * args.batch, (s + 1) * args.batch)
        return list(pool.map(_make, indices, chunksize=4)) if pool else [generator.make(i) for i in indices]

    started = time.time()
    progress = Progress("train", args.steps)
    running = None
    while step < args.steps:
        model.train()
        x, boxes, labels = to_batch(canvases_for(step), args.size)
        targets = [ssd.match(b, l, priors) for b, l in zip(boxes, labels)]
        target_classes = torch.stack([t[0] for t in targets]).to(device)
        target_offsets = torch.stack([t[1] for t in targets]).to(device)
        scores, offsets = model(x.to(device))
        class_loss, box_loss = ssd.multibox_loss(scores, offsets, target_classes, target_offsets)
        loss = class_loss + box_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        progress.update(step, f"loss {running:.3f}")
        if step % args.evaluate_every == 0 or step == args.steps:
            val_map, per_class = evaluate(model, val_canvases, args.size, device, len(names))
            history.append({"step": step, "loss": round(running, 4), "validationMap": round(val_map, 4),
                            "worstClassAp": round(min(per_class), 4), "seconds": round(time.time() - started, 1)})
            print(json.dumps(history[-1]), flush=True)
            save_checkpoint(checkpoint_path, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            schedule=schedule.state_dict(), step=step, history=history)
    if pool:
        pool.shutdown()

    val_map, per_class = evaluate(model, val_canvases, args.size, device, len(names))
    model = model.cpu().eval()
    export(model, torch.zeros(1, 1, args.size, args.size), os.path.join(args.out, "model.onnx"), input_names=["input"],
           output_names=["scores", "boxes"], dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}, "boxes": {0: "batch"}},
           metadata={"trainer": "references/train_detector.py", "seed": args.seed})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(service_config(model, names, args), f, indent=2)
    report = {"arguments": vars(args), "history": history, "validationMap": val_map,
              "validationPerClassAp": dict(zip(names, [round(a, 4) for a in per_class])),
              "trainingSeconds": round(time.time() - started, 1), "torch": torch.__version__, "threads": torch.get_num_threads()}
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps({"validationMap": round(val_map, 4), "perClass": report["validationPerClassAp"]}))
    return report


if __name__ == "__main__":
    main()
