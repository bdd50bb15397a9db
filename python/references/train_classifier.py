"""Trains an RFF-CNN classifier end to end on Fashion-MNIST (W, b and sigma with the readout), with augmentation,
model choice on a validation split, checkpoints to resume, ONNX export with the ai.rff::RffConv operator, and a
config.json for RffService's model repository.

    PYTHONPATH=python python3 python/references/train_classifier.py --out runs/classifier --epochs 20
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import fashion_mnist as fmnist
from rffconv.layers import RffConv2d
from rffconv.models import HybridRffCnn, RffCnn
from rffconv.onnx_export import export
from training import Progress, load_checkpoint, save_checkpoint, setup


def ints(text):
    return [int(v) for v in text.split(",")]


def floats(text):
    return [float(v) for v in text.split(",")]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data", help="data cache with fashion-mnist/train.bin and test.bin (fetch-data)")
    p.add_argument("--out", default="runs/classifier", help="run folder: checkpoints, model.onnx, config.json, report.json")
    p.add_argument("--architecture", choices=["rff", "hybrid"], default="hybrid",
                   help="rff: RffConv layers only; hybrid: an RffConv stem, convolution + BatchNorm + ReLU blocks, a 1x1 RffConv head")
    p.add_argument("--widths", type=ints, default=[64, 128, 256],
                   help="rff: every layer's width; hybrid: stem, the convolution blocks, head")
    p.add_argument("--kernels", type=ints, default=[5, 3, 3])
    p.add_argument("--sigmas", type=floats, default=[4.0, 2.0, 2.0], help="initial kernel bandwidths")
    p.add_argument("--pools", type=ints, default=[2, 2, 1], help="rff: max-pooling window after each layer (1 = none)")
    p.add_argument("--pool-after", type=ints, default=[], help="hybrid: 2x2 max pooling after these convolution blocks (0-based)")
    p.add_argument("--batch-norm", action="store_true", help="BatchNorm after each RffConv layer")
    p.add_argument("--fixed", action="store_true", help="keep the random W, b and sigma fixed (train the readout only)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--rff-lr-scale", type=float, default=10.0,
                   help="learning-rate factor for RffConv weights, phases and bandwidths (W ~ N(0, 1) is far larger than a usual "
                        "initialisation, so the same step would barely move it); they get no weight decay")
    p.add_argument("--label-smoothing", type=float, default=0.05)
    p.add_argument("--shift", type=int, default=2, help="random translation in pixels (augmentation)")
    p.add_argument("--canvas", type=int, default=0, help="also train on items placed on larger black canvases of up to this side")
    p.add_argument("--explain-weight", type=float, default=0.0,
                   help="weight of the localisation term: on items placed on black canvases, the CAM and Layer-CAM maps of the "
                        "true class (last RFF layer, relative to a blank canvas) should peak inside the item's box")
    p.add_argument("--explain-batch", type=int, default=32, help="canvases per step for the localisation term")
    p.add_argument("--explain-canvas", type=int, nargs=2, default=[36, 56], help="smallest and largest canvas side")
    p.add_argument("--validation", type=int, default=5000, help="training images held out to choose the epoch (0 = none)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--init", default=None,
                   help="start from the best weights of another run's checkpoint.pt (fine-tuning: a fresh optimiser and schedule)")
    p.add_argument("--teacher", default=None,
                   help="distil from the best weights of this checkpoint.pt (same architecture): the training images' loss "
                        "mixes the labels with the teacher's softened predictions, so a fine-tune keeps what the teacher knew")
    p.add_argument("--distill-weight", type=float, default=0.5, help="share of the teacher's term in the images' loss")
    p.add_argument("--temperature", type=float, default=2.0, help="softening of teacher and student predictions")
    p.add_argument("--freeze", type=int, default=0,
                   help="keep the first N modules of the feature stack fixed (parameters and BatchNorm statistics)")
    return p.parse_args(argv)


def normalise(images):
    return (images.float() / 255.0 - fmnist.FASHION_MEAN) / fmnist.FASHION_STD


def augment(batch, shift, canvas, generator):
    """Random flips and shifts; with canvas > 28, every other batch places the items on a larger black canvas."""
    n = batch.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    side = batch.shape[-1]
    if canvas > side and torch.rand(1, generator=generator).item() < 0.5:
        big = int(torch.randint(side + 4, canvas + 1, (1,), generator=generator))
        out = torch.zeros(n, 1, big, big, dtype=batch.dtype)
        xs = torch.randint(0, big - side + 1, (n,), generator=generator)
        ys = torch.randint(0, big - side + 1, (n,), generator=generator)
        for i in range(n):
            out[i, :, ys[i]:ys[i] + side, xs[i]:xs[i] + side] = batch[i]
        return out
    if shift > 0:
        padded = F.pad(batch, (shift, shift, shift, shift))
        out = torch.empty_like(batch)
        offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=generator)
        for i in range(n):
            dy, dx = offsets[i].tolist()
            out[i] = padded[i, :, dy:dy + side, dx:dx + side]
        return out
    return batch


def build_model(args, classes):
    if args.architecture == "hybrid":
        return HybridRffCnn(stem=args.widths[0], widths=args.widths[1:-1], head=args.widths[-1], sigmas=(args.sigmas[0], args.sigmas[-1]),
                            classes=classes, seed=args.seed, pool_after=tuple(args.pool_after))
    return RffCnn(args.widths, args.kernels, args.sigmas, args.pools, classes=classes, trainable=not args.fixed,
                  seed=args.seed, batch_norm=args.batch_norm)


def parameter_groups(model, args):
    rff = [p for m in model.modules() if isinstance(m, RffConv2d) for p in m.parameters(recurse=False) if p.requires_grad]
    ids = {id(p) for p in rff}
    rest = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    return [{"params": rest, "lr": args.lr},
            {"params": rff, "lr": args.lr * args.rff_lr_scale, "weight_decay": 0.0}]


def classification_loss(logits, labels, teacher_logits, args):
    """Cross-entropy with the labels, mixed with the temperature-softened KL divergence from a teacher when there is one."""
    ce = F.cross_entropy(logits, labels, label_smoothing=args.label_smoothing)
    if teacher_logits is None:
        return ce
    t = args.temperature
    kl = F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(teacher_logits / t, 1), log_target=True, reduction="batchmean")
    return (1 - args.distill_weight) * ce + args.distill_weight * t * t * kl


def best_weights(checkpoint_path, device):
    """The weights a run kept (its best epoch on validation, or its last without a validation split)."""
    return load_checkpoint(checkpoint_path, device)["best"][1]


def frozen_modules(model, count):
    modules = list(model.features)[:count]
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)
    return modules


def localisation_loss(model, items, labels, args, generator, device):
    """Places items [n, 1, 28, 28] on black canvases and asks the true class's CAM and Layer-CAM maps (on the last RFF
    layer, relative to a blank canvas, upsampled to the canvas as the service does) to peak inside each item's tight box:
    a hinge on (highest value outside the box - highest value inside), relative to the map's largest magnitude. The canvases also
    count in the classification loss, so the model keeps classifying items that do not fill the frame."""
    n, side = items.shape[0], items.shape[-1]
    flip = torch.rand(n, generator=generator) < 0.5
    items = torch.where(flip[:, None, None, None], items.flip(3), items)
    big = int(torch.randint(args.explain_canvas[0], args.explain_canvas[1] + 1, (1,), generator=generator))
    canvas = torch.zeros(n, 1, big, big, dtype=items.dtype)
    inside = torch.zeros(n, big, big, dtype=torch.bool)
    xs = torch.randint(0, big - side + 1, (n,), generator=generator)
    ys = torch.randint(0, big - side + 1, (n,), generator=generator)
    for i in range(n):
        x, y = int(xs[i]), int(ys[i])
        canvas[i, :, y:y + side, x:x + side] = items[i]
        rows, cols = torch.nonzero(items[i, 0] > 0, as_tuple=True)
        if len(rows):
            inside[i, y + rows.min():y + rows.max() + 1, x + cols.min():x + cols.max() + 1] = True
    x = normalise(canvas).to(device)
    blank = normalise(torch.zeros(1, 1, big, big, dtype=items.dtype)).to(device)
    # BatchNorm as at inference (running statistics, not updated): mostly black canvases must neither shift the
    # statistics the classifier is evaluated with nor be normalised by their own batch's.
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in norms]
    for m in norms:
        m.eval()
    try:
        logits, maps = model.logits_and_last_map(torch.cat([x, blank]))
    finally:
        for m, mode in zip(norms, modes):
            m.train(mode)
    labels = labels.to(device)
    delta = maps[:n] - maps[n:]
    weights = model.readout.weight[labels][:, :, None, None]
    ce = F.cross_entropy(logits[:n], labels, label_smoothing=args.label_smoothing)
    penalty = 0.0
    for m in ((weights * delta).sum(1), F.relu((F.relu(weights) * delta).sum(1))):
        up = F.interpolate(m[:, None], size=(big, big), mode="bilinear", align_corners=False)[:, 0]
        mask = inside.to(device)
        top_in = up.masked_fill(~mask, float("-inf")).flatten(1).max(1).values
        top_out = up.masked_fill(mask, float("-inf")).flatten(1).max(1).values
        # Relative to the map's largest magnitude, so each canvas adds at most about 2 and a near-zero map early in
        # training cannot outweigh the classification loss.
        scale = up.abs().flatten(1).max(1).values.detach() + 1e-6
        penalty = penalty + F.relu(top_out - top_in + 0.1 * scale).div(scale).mean()
    return ce + args.explain_weight * penalty


@torch.no_grad()
def accuracy(model, images, labels, device, batch=1000):
    model.eval()
    correct = 0
    predictions = []
    for start in range(0, len(images), batch):
        x = normalise(images[start:start + batch]).to(device)
        p = model(x).argmax(1).cpu()
        predictions.append(p)
        correct += (p == labels[start:start + batch]).sum().item()
    return correct / len(images), torch.cat(predictions)


def main(argv=None):
    args = parse(argv)
    device = setup(args.threads, args.seed)
    os.makedirs(args.out, exist_ok=True)
    (train_x, train_y), (test_x, test_y), names = fmnist.fashion(args.data)
    order = np.random.default_rng(args.seed).permutation(len(train_x))
    val_idx, fit_idx = order[:args.validation], order[args.validation:]
    fit_x = torch.from_numpy(train_x[fit_idx]).unsqueeze(1)
    fit_y = torch.from_numpy(train_y[fit_idx])
    val_x, val_y = torch.from_numpy(train_x[val_idx]).unsqueeze(1), torch.from_numpy(train_y[val_idx])
    test_x, test_y = torch.from_numpy(test_x).unsqueeze(1), torch.from_numpy(test_y)

    model = build_model(args, len(names)).to(device)
    if args.init:
        model.load_state_dict(best_weights(args.init, device))
        print(f"weights from {args.init}")
    frozen = frozen_modules(model, args.freeze)
    teacher = None
    if args.teacher:
        teacher = build_model(args, len(names)).to(device)
        teacher.load_state_dict(best_weights(args.teacher, device))
        teacher.eval()
    optimizer = torch.optim.AdamW(parameter_groups(model, args), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(fit_x) / args.batch)
    total_steps = args.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, [g["lr"] for g in optimizer.param_groups], total_steps=total_steps,
                                                   pct_start=0.15)
    generator = torch.Generator().manual_seed(args.seed)
    checkpoint_path = os.path.join(args.out, "checkpoint.pt")
    start_epoch, history, best = 0, [], (-1.0, None)
    state = load_checkpoint(checkpoint_path, device) if args.resume else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        start_epoch, history, best = state["epoch"], state["history"], tuple(state["best"])
        print(f"resumed after epoch {start_epoch}")

    started = time.time()
    for epoch in range(start_epoch, args.epochs):
        model.train()
        for m in frozen:
            m.eval()
        permutation = torch.randperm(len(fit_x), generator=generator)
        progress = Progress(f"epoch {epoch + 1}/{args.epochs}", steps_per_epoch)
        running = 0.0
        for step in range(steps_per_epoch):
            idx = permutation[step * args.batch:(step + 1) * args.batch]
            x = normalise(augment(fit_x[idx], args.shift, args.canvas, generator)).to(device)
            with torch.no_grad():
                teacher_logits = teacher(x) if teacher is not None else None
            loss = classification_loss(model(x), fit_y[idx].to(device), teacher_logits, args)
            if args.explain_weight > 0:
                pick = idx[:args.explain_batch]
                loss = loss + localisation_loss(model, fit_x[pick], fit_y[pick], args, generator, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
            progress.update(step + 1, f"loss {running:.3f}")
        val_acc = accuracy(model, val_x, val_y, device)[0] if len(val_x) else float("nan")
        history.append({"epoch": epoch + 1, "loss": round(running, 4), "validationAccuracy": round(val_acc, 4),
                        "seconds": round(time.time() - started, 1)})
        print(json.dumps(history[-1]), flush=True)
        if len(val_x) == 0 or val_acc >= best[0]:
            best = (val_acc, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        save_checkpoint(checkpoint_path, model=model.state_dict(), optimizer=optimizer.state_dict(), schedule=schedule.state_dict(),
                        generator=generator.get_state(), epoch=epoch + 1, history=history, best=list(best))

    model.load_state_dict(best[1])
    test_acc, predictions = accuracy(model, test_x, test_y, device)
    chosen = max(history, key=lambda h: h["validationAccuracy"])["epoch"] if len(val_x) else f"{args.epochs}, the last (no validation split)"
    print(f"test accuracy {test_acc:.4f} (epoch {chosen})")
    import pointing
    _, (raw_test_x, raw_test_y), _ = fmnist.fashion(args.data)
    pointing_rates = pointing.play(model, pointing.canvases(raw_test_x, raw_test_y, 500, seed=5), device)
    print(f"pointing game (PyTorch check, 500 canvases): {pointing_rates}")
    model = model.cpu().eval()
    onnx_path = os.path.join(args.out, "model.onnx")
    export(model, torch.zeros(1, 1, 28, 28), onnx_path, input_names=["input"], output_names=["logits"],
           dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}},
           metadata={"trainer": "references/train_classifier.py", "seed": args.seed})
    confusion = np.zeros((len(names), len(names)), dtype=int)
    for t, p in zip(test_y.tolist(), predictions.tolist()):
        confusion[t, p] += 1
    report = {
        "arguments": vars(args), "history": history, "testAccuracy": test_acc,
        "perClassAccuracy": {n: round(confusion[i, i] / confusion[i].sum(), 4) for i, n in enumerate(names)},
        "confusionMatrix": confusion.tolist(), "pointingGameCheck": pointing_rates, "trainingSeconds": round(time.time() - started, 1),
        "sigmas": [round(float(m.sigma), 4) for m in model.modules() if hasattr(m, "log_sigma")],
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
