"""Trains the RFF-SSD detector end to end on multi-object canvases generated on the fly (never the same canvas
twice), with checkpoints to resume, validation mAP on canvases of kept-out items (in the original scenes and in the
held-out scenes training never draws, see canvases.py), ONNX export with the ai.rff::RffConv operator, a config.json
for RffService's model repository (raw "ssd" layout: the service decodes and suppresses) and, at the end, per-class AP
on test-split canvases of the original, held-out and probe scene families.

    PYTHONPATH=python python3 python/references/train_detector.py --out runs/detector --steps 12000
    PYTHONPATH=python python3 python/references/train_detector.py --minutes 7.5 --batch 64 --workers 6 --no-export $ARCH --out runs/deep  # on a GPU
    PYTHONPATH=python python3 python/references/train_detector.py --init-state runs/deep/state.npz --steps 0 $ARCH --out runs/deep
    PYTHONPATH=python python3 python/references/train_detector.py --init-onnx models/rff-ssd-fashion/5/model.onnx --evaluate-only $ARCH

with ARCH="--stem 64 --widths 96,128,192,256,256,256 --extra-blocks 1", the default detector's architecture (versions 4 and 5;
the options' defaults are version 3's).

--init-onnx starts from an exported detector of the same architecture (its Conv+BatchNorm pairs were folded by the
export; they are unfolded with statistics measured on training canvases, so the model starts where the file is).
"""

import argparse
import json
import math
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import torchvision

import fashion_mnist as fmnist
from rffconv import ssd
from canvases import BACKGROUNDS, HELD_OUT_BACKGROUNDS, PROBE_BACKGROUNDS, SCENES, TRAINING_BACKGROUNDS, CanvasGenerator
from metrics import average_precision, confusions
from rffconv.models import RffSsd
from rffconv.onnx_export import export
from training import Progress, load_checkpoint, save_checkpoint, setup

_GENERATOR = None


def _init_worker(images, labels, size, seed, scene):
    global _GENERATOR
    _GENERATOR = CanvasGenerator(images, labels, size=size, seed=seed, scene=scene)


def _make_batch(indices):
    return [_GENERATOR.make(i) for i in indices]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data")
    p.add_argument("--out", default="runs/detector")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--stem", type=int, default=32)
    p.add_argument("--widths", type=lambda t: [int(v) for v in t.split(",")], default=[48, 64, 96, 128, 128, 128])
    p.add_argument("--extra-blocks", type=int, default=0, help="stride-1 convolution blocks added before each of the first three maps")
    p.add_argument("--sigma", type=float, default=4.0)
    p.add_argument("--min-scale", type=float, default=0.15)
    p.add_argument("--max-scale", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=12000, help="0: no training (with --init-onnx or --init-state: test report and export)")
    p.add_argument("--minutes", type=float, help="train for this long instead of --steps; the one-cycle schedule follows the clock")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--oversample", type=class_factors, default={},
                   help='class=factor,...: training items of these classes drawn factor times as often, e.g. "Shirt=3,Coat=2"')
    p.add_argument("--validation-items", type=int, default=5000, help="training items kept out of the training canvases")
    p.add_argument("--validation-canvases", type=int, default=500)
    p.add_argument("--evaluate-every", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--canvas-seed", type=int,
                   help="seed of the training canvases alone (default --seed): a warm start sees new canvases, while the "
                        "validation items and the validation and test canvases stay those of --seed")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes that draw canvases (0 = in the training process)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--scene", default="training", choices=SCENES, help="the canvases trained on (see canvases.py)")
    p.add_argument("--init-onnx", help="start from this exported detector (same architecture)")
    p.add_argument("--init-state", help="start from this state.npz (same architecture), as every run writes next to its checkpoint")
    p.add_argument("--evaluate-only", action="store_true", help="with --init-onnx: only the test report of that detector")
    p.add_argument("--no-export", action="store_true",
                   help="write no ONNX file (export later with --init-state state.npz --steps 0, e.g. under another torch)")
    p.add_argument("--cross-class-iou", type=float, default=0.5,
                   help="suppress boxes of other classes above this IoU after per-class NMS (0 = off); written to config.json")
    p.add_argument("--test-canvases", type=int, default=1000, help="test-split canvases per scene family at the end")
    p.add_argument("--by-background", action="store_true",
                   help="with --evaluate-only: the held-out layouts on one background kind at a time, every kind of every family")
    return p.parse_args(argv)


def class_factors(text):
    """"Shirt=3,T-shirt/top=2" -> {"Shirt": 3, "T-shirt/top": 2}."""
    factors = {}
    for part in filter(None, text.split(",")):
        name, _, factor = part.rpartition("=")
        if not name or not factor.isdigit() or int(factor) < 1:
            raise argparse.ArgumentTypeError(f"expected class=factor (a whole number >= 1), got {part!r}")
        factors[name] = int(factor)
    return factors


def oversampled(items, labels, names, factors):
    """items with those of each class in factors repeated factor times (the canvases draw items uniformly)."""
    unknown = set(factors) - set(names)
    if unknown:
        raise ValueError(f"--oversample: no class named {sorted(unknown)}; the classes are {names}")
    repeats = np.array([factors.get(names[label], 1) for label in labels[items]])
    return np.repeat(items, repeats)


def one_cycle(fraction, pct_start=0.05, div_factor=25.0, final_div_factor=1e4):
    """OneCycleLR's learning-rate factor (cosine warm-up, then cosine annealing) at a fraction of the run."""
    if fraction < pct_start:
        start = 1 / div_factor
        return start + (1 - start) * (1 - math.cos(math.pi * fraction / pct_start)) / 2
    end = 1 / (div_factor * final_div_factor)
    return end + (1 - end) * (1 + math.cos(math.pi * min((fraction - pct_start) / (1 - pct_start), 1.0))) / 2


def match_targets(boxes, labels, priors):
    """Class targets and box offsets of a batch, on the priors' device (ssd.match_batch on padded objects)."""
    most = max([len(b) for b in boxes] + [1])
    padded_boxes = torch.zeros(len(boxes), most, 4)
    padded_labels = torch.zeros(len(boxes), most, dtype=torch.long)
    valid = torch.zeros(len(boxes), most, dtype=torch.bool)
    for i, (b, l) in enumerate(zip(boxes, labels)):
        padded_boxes[i, :len(b)], padded_labels[i, :len(b)], valid[i, :len(b)] = b, l, True
    device = priors.device
    return ssd.match_batch(padded_boxes.to(device), padded_labels.to(device), valid.to(device), priors)


def save_state(path, model):
    """The weights as plain arrays: readable by any torch and numpy version (a checkpoint.pt is tied to its torch)."""
    tmp = path + ".tmp.npz"
    np.savez(tmp, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})
    os.replace(tmp, path)


def load_state(path, model):
    with np.load(path) as arrays:
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})


def to_batch(canvases, size):
    x = torch.from_numpy(np.stack([c[0] for c in canvases])).unsqueeze(1)
    x = (x.float() / 255.0 - fmnist.FASHION_MEAN) / fmnist.FASHION_STD
    boxes = [torch.from_numpy(c[1]) / size for c in canvases]
    labels = [torch.from_numpy(c[2]) for c in canvases]
    return x, boxes, labels


@torch.no_grad()
def detect(model, x, score_threshold=0.01, iou_threshold=0.45, max_detections=100, cross_class_iou=0.0):
    """Softmax, per-class threshold, decoding, class-aware NMS, then (cross_class_iou > 0) suppression across classes:
    what the service's SsdDecoder does."""
    scores, offsets = model(x)
    probabilities = scores.softmax(-1)[..., 1:]
    boxes = ssd.decode(offsets, model.prior_boxes.to(x.device)).clamp(0, 1)
    results = []
    for p, b in zip(probabilities, boxes):
        keep_prior, keep_class = torch.nonzero(p > score_threshold, as_tuple=True)
        s, bb = p[keep_prior, keep_class], b[keep_prior]
        order = torchvision.ops.batched_nms(bb, s, keep_class, iou_threshold)
        if cross_class_iou > 0:
            order = order[torchvision.ops.nms(bb[order], s[order], cross_class_iou)]
        order = order[:max_detections]
        results.append((bb[order].cpu(), s[order].cpu(), keep_class[order].cpu()))
    return results


def evaluate(model, canvases, size, device, classes, cross_class_iou=0.0, confusion=None):
    """(mAP, per-class AP) on the canvases; with confusion (a dict), also counts what each true object was found as."""
    model.eval()
    detections, truths = [], []
    for start in range(0, len(canvases), 50):
        chunk = canvases[start:start + 50]
        x, _, _ = to_batch(chunk, size)
        for i, (b, s, c) in enumerate(detect(model, x.to(device), cross_class_iou=cross_class_iou)):
            image = start + i
            truths.append((chunk[i][1], chunk[i][2]))
            for box, score, cls in zip((b * size).numpy(), s.numpy(), c.numpy()):
                detections.append((image, int(cls), float(score), box))
    if confusion is not None:
        confusion.update(confusions(detections, truths))
    return average_precision(detections, truths, classes)


def validate(model, val_canvases, args, device, names, step, loss, seconds):
    """One row of the training history: mAP and the worst class's AP on each scene family's validation canvases."""
    row = {"step": step, "loss": None if loss is None else round(loss, 4)}
    for scene, canvases in val_canvases.items():
        val_map, per_class = evaluate(model, canvases, args.size, device, len(names), args.cross_class_iou)
        row[scene] = {"mAP": round(val_map, 4), "worst": names[int(np.argmin(per_class))], "worstAp": round(min(per_class), 4)}
    row["seconds"] = round(seconds, 1)
    return row


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
            **({"crossClassIou": args.cross_class_iou} if args.cross_class_iou > 0 else {}),
            "priors": {"featureMaps": [{"width": w, "height": h, "aspectRatios": r} for w, h, r in model.feature_maps],
                       "minScale": args.min_scale, "maxScale": args.max_scale, "clip": False},
        },
    }


@torch.no_grad()
def init_from_onnx(model, path, x):
    """Loads an exported RffSsd into model. The export folded each Conv+BatchNorm pair into one Conv with a bias; the
    BatchNorm gets back the statistics of the folded convolution's output on x (gamma = its std, beta = its mean plus
    the bias), so train-mode batch statistics reproduce the file on canvases like x and eval mode reproduces it exactly."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    state = model.state_dict()
    for name in state:
        if name in weights:
            state[name].copy_(weights[name])
    stem = next(n for n in graph.node if n.op_type == "RffConv")
    model.stem[0].log_sigma.copy_(torch.tensor(next(a.f for a in stem.attribute if a.name == "sigma")).log())
    folded = {}
    for node in graph.node:  # "/stage1/stage1.0/stage1.0.0/Conv_output_0" -> module stage1.0.0
        if node.op_type == "Conv" and node.input[1] not in state:
            folded[node.output[0].split("/")[-2]] = (weights[node.input[1]], weights[node.input[2]])
    modules = dict(model.named_modules())
    outputs = {}
    hooks = [modules[name].register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o)) for name in folded]
    for name, (weight, bias) in folded.items():
        modules[name].weight.copy_(weight)
        batch_norm = modules[name[:-1] + "1"]
        batch_norm.reset_running_stats()
        batch_norm.running_var.fill_(1 - batch_norm.eps)
        batch_norm.weight.fill_(1)
        batch_norm.bias.copy_(bias)
    model.eval()
    model(x)  # the folded network, exactly; record every convolution's output without bias
    for hook in hooks:
        hook.remove()
    for name, (_, bias) in folded.items():
        y = outputs[name]
        mean, var = y.mean((0, 2, 3)), y.var((0, 2, 3), unbiased=False)
        batch_norm = modules[name[:-1] + "1"]
        batch_norm.running_mean.copy_(mean)
        batch_norm.running_var.copy_(var)
        batch_norm.weight.copy_((var + batch_norm.eps).sqrt())
        batch_norm.bias.copy_(mean + bias)
    missing = [k for k in state if k not in weights and not k.endswith(("num_batches_tracked", "log_sigma")) and not any(k.startswith(n + ".") or k.startswith(n[:-1] + "1.") for n in folded)]
    if missing:
        raise ValueError(f"{path} has no values for {missing}")


def test_report(model, test_x, test_y, args, device, classes, names):
    """Per-class AP@0.5 on args.test_canvases test-split canvases of each evaluation scene family, with and without
    suppression across classes."""
    report = {}
    for scene in ("original", "held-out", "probe"):
        canvases = [CanvasGenerator(test_x, test_y, size=args.size, seed=args.seed + 2000, scene=scene).make(i)
                    for i in range(args.test_canvases)]
        for cross in sorted({0.0, args.cross_class_iou}):
            confusion = {}
            val_map, per_class = evaluate(model, canvases, args.size, device, classes, cross, confusion)
            mistakes = sorted(((n, t, f) for (t, f), n in confusion.items() if t != f), key=lambda m: -m[0])[:8]
            report[f"{scene}, cross-class IoU {cross}"] = {
                "mAP": round(val_map, 4), "perClass": dict(zip(names, [round(a, 4) for a in per_class])),
                "objects": int(sum(len(c[2]) for c in canvases)),
                "foundAsTrueClass": round(sum(n for (t, f), n in confusion.items() if t == f) / max(sum(confusion.values()), 1), 4),
                "commonestMistakes": [f"{names[t]} found as {names[f] if f is not None else 'nothing'}: {n}" for n, t, f in mistakes]}
            print(json.dumps({scene: report[f"{scene}, cross-class IoU {cross}"], "crossClassIou": cross}), flush=True)
    return report


def background_report(model, test_x, test_y, args, device, names):
    """mAP@0.5 (per-class NMS) of the held-out layouts and sizes on each background kind alone: which scenes cost what."""
    report = {}
    for kind in dict.fromkeys(BACKGROUNDS + TRAINING_BACKGROUNDS + HELD_OUT_BACKGROUNDS + PROBE_BACKGROUNDS):
        generator = CanvasGenerator(test_x, test_y, size=args.size, seed=args.seed + 2000, scene="held-out", backgrounds=(kind,))
        val_map, per_class = evaluate(model, [generator.make(i) for i in range(args.test_canvases)], args.size, device, len(names))
        report[kind] = {"mAP": round(val_map, 4), "perClass": dict(zip(names, [round(a, 4) for a in per_class]))}
        print(json.dumps({"background": kind, **report[kind]}), flush=True)
    return report


def main(argv=None):
    args = parse(argv)
    device = setup(args.threads, args.seed)
    os.makedirs(args.out, exist_ok=True)
    (train_x, train_y), (test_x, test_y), names = fmnist.fashion(args.data)
    order = np.random.default_rng(args.seed).permutation(len(train_x))
    val_items, fit_items = order[:args.validation_items], order[args.validation_items:]
    fit_items = oversampled(fit_items, train_y, names, args.oversample)
    val_canvases = {scene: [CanvasGenerator(train_x[val_items], train_y[val_items], size=args.size, seed=args.seed + 1000,
                                            scene=scene).make(i) for i in range(args.validation_canvases)]
                    for scene in ("original", "held-out")}

    step, history = 0, []
    model = RffSsd(classes=len(names), size=args.size, stem=args.stem, widths=args.widths, sigma=args.sigma,
                   min_scale=args.min_scale, max_scale=args.max_scale, seed=args.seed, extra_blocks=args.extra_blocks).to(device)
    priors = model.prior_boxes
    canvas_seed = args.seed if args.canvas_seed is None else args.canvas_seed
    generator = CanvasGenerator(train_x[fit_items], train_y[fit_items], size=args.size, seed=canvas_seed, scene=args.scene)
    if args.init_state and not args.resume:
        load_state(args.init_state, model)
    elif args.init_onnx and not args.resume:
        calibration = CanvasGenerator(train_x[fit_items], train_y[fit_items], size=args.size, seed=args.seed + 3000, scene=args.scene)
        init_from_onnx(model, args.init_onnx, to_batch([calibration.make(i) for i in range(256)], args.size)[0].to(device))
        if args.evaluate_only:
            if args.by_background:
                return background_report(model, test_x, test_y, args, device, names)
            return test_report(model, test_x, test_y, args, device, len(names), names)
    if (args.init_onnx or args.init_state) and (args.steps or args.minutes):
        history.append(validate(model, val_canvases, args, device, names, 0, None, 0.0))
        print(json.dumps(history[-1]), flush=True)
    budget = args.minutes * 60 if args.minutes else None
    started = time.time()

    def fraction():
        return (time.time() - started) / budget if budget else step / max(args.steps, 1)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if budget:
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: one_cycle(fraction()))
    else:
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=max(args.steps, 1), pct_start=0.05)
    checkpoint_path = os.path.join(args.out, "checkpoint.pt")
    state = load_checkpoint(checkpoint_path, device) if args.resume else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history = state["step"], state["history"]
        print(f"resumed at step {step}")

    pool = ProcessPoolExecutor(args.workers, initializer=_init_worker,
                               initargs=(train_x[fit_items], train_y[fit_items], args.size, canvas_seed, args.scene)) if args.workers else None

    def batches(first):
        """The canvases of steps first, first + 1, ...; the workers draw a few steps ahead of the training."""
        def indices(s):
            return range(s * args.batch, (s + 1) * args.batch)
        if not pool:
            for s in range(first, 1 << 62):
                yield [generator.make(i) for i in indices(s)]
        ahead = deque(pool.submit(_make_batch, indices(s)) for s in range(first, first + 2 * args.workers))
        for s in range(first + len(ahead), 1 << 62):
            canvases = ahead.popleft().result()
            ahead.append(pool.submit(_make_batch, indices(s)))
            yield canvases

    def training():
        return time.time() - started < budget if budget else step < args.steps

    progress = Progress("train", 1000 if budget else args.steps)
    running = None
    source = batches(step)
    while training():
        model.train()
        x, boxes, labels = to_batch(next(source), args.size)
        target_classes, target_offsets = match_targets(boxes, labels, priors)
        scores, offsets = model(x.to(device))
        class_loss, box_loss = ssd.multibox_loss(scores, offsets, target_classes, target_offsets)
        loss = class_loss + box_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        progress.update(int(1000 * min(fraction(), 1)) if budget else step, f"step {step} loss {running:.3f}")
        if step % args.evaluate_every == 0 or not training():
            history.append(validate(model, val_canvases, args, device, names, step, running, time.time() - started))
            print(json.dumps(history[-1]), flush=True)
            save_checkpoint(checkpoint_path, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            schedule=schedule.state_dict(), step=step, history=history)
            save_state(os.path.join(args.out, "state.npz"), model)
    if pool:
        pool.shutdown(cancel_futures=True)

    training_seconds = time.time() - started
    val_map, per_class = evaluate(model, val_canvases["held-out"], args.size, device, len(names), args.cross_class_iou)
    test = test_report(model, test_x, test_y, args, device, len(names), names)
    report = {"arguments": vars(args), "history": history, "steps": step, "heldOutValidationMap": val_map,
              "heldOutValidationPerClassAp": dict(zip(names, [round(a, 4) for a in per_class])), "test": test,
              "trainingSeconds": round(training_seconds, 1), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    if args.no_export:
        return report
    model = model.cpu().eval()
    export(model, torch.zeros(1, 1, args.size, args.size), os.path.join(args.out, "model.onnx"), input_names=["input"],
           output_names=["scores", "boxes"], dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}, "boxes": {0: "batch"}},
           metadata={"trainer": "references/train_detector.py", "seed": args.seed})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(service_config(model, names, args), f, indent=2)
    print(json.dumps({"heldOutValidationMap": round(val_map, 4), "perClass": report["heldOutValidationPerClassAp"]}))
    return report


if __name__ == "__main__":
    main()
