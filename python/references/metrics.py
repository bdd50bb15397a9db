"""VOC all-point average precision, as RffService's DetectionMetrics computes it."""

import numpy as np


def box_iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def average_precision(detections, truths, classes, iou_threshold=0.5):
    """detections: list of (image, class, score, box xyxy); truths: per image (boxes [n, 4], labels [n]).
    Returns (mAP, per-class AP list)."""
    aps = []
    for c in range(classes):
        gt = {i: b[l == c] for i, (b, l) in enumerate(truths)}
        used = {i: np.zeros(len(g), bool) for i, g in gt.items()}
        total = sum(len(g) for g in gt.values())
        dets = sorted((d for d in detections if d[1] == c), key=lambda d: -d[2])
        tp = np.zeros(len(dets))
        for k, (image, _, _, box) in enumerate(dets):
            g = gt[image]
            if len(g) == 0:
                continue
            overlaps = box_iou(np.asarray(box, np.float64)[None], g)[0]
            j = int(overlaps.argmax())
            if overlaps[j] >= iou_threshold and not used[image][j]:
                used[image][j] = True
                tp[k] = 1
        if total == 0:
            continue
        cum_tp = np.cumsum(tp)
        recall = cum_tp / total
        precision = cum_tp / np.arange(1, len(dets) + 1) if len(dets) else np.zeros(0)
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        changes = np.nonzero(mrec[1:] != mrec[:-1])[0]
        aps.append(float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1])))
    return float(np.mean(aps)) if aps else 0.0, aps


def confusions(detections, truths, iou_threshold=0.5):
    """For each true object, the class of the best-scoring detection on it (IoU >= threshold, any class), or None when
    nothing found it. Returns a dict {(true class, found class or None): count}."""
    counts = {}
    by_image = {}
    for image, cls, score, box in detections:
        by_image.setdefault(image, []).append((score, cls, np.asarray(box, np.float64)))
    for image, (boxes, labels) in enumerate(truths):
        found = sorted(by_image.get(image, []), key=lambda d: -d[0])
        for box, label in zip(boxes, labels):
            hit = next((cls for _, cls, b in found if box_iou(b[None], np.asarray(box, np.float64)[None])[0, 0] >= iou_threshold), None)
            key = (int(label), hit)
            counts[key] = counts.get(key, 0) + 1
    return counts
