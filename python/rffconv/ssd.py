"""SSD pieces that mirror RffService's decoder: default boxes (the SSD paper's recipe, in the service's order),
the centre-size box coder with variances, prior matching and the multibox loss with hard negative mining."""

import math

import torch
import torch.nn.functional as F

VARIANCES = (0.1, 0.1, 0.2, 0.2)


def priors(feature_maps, min_scale, max_scale, clip=False):
    """(cx, cy, w, h) fractions of the input, ordered map, row, column, box, exactly as the service's PriorGenerator.

    feature_maps: list of (width, height, aspect_ratios). Map k gets scale s_k (linear from min to max); each cell
    centre gets a square s_k, a square sqrt(s_k s_k+1), and (s_k sqrt(r), s_k / sqrt(r)) and its transpose per ratio r.
    """
    out = []
    m = len(feature_maps)
    step = (max_scale - min_scale) / (m - 1) if m > 1 else 0.0
    for k, (width, height, ratios) in enumerate(feature_maps):
        s = min_scale + step * k
        s_next = s + step if k + 1 < m else min(1.0, s + (step if step > 0 else s))
        extra = math.sqrt(s * s_next)
        for y in range(height):
            for x in range(width):
                cx, cy = (x + 0.5) / width, (y + 0.5) / height
                boxes = [(s, s), (extra, extra)]
                for r in ratios:
                    root = math.sqrt(r)
                    boxes += [(s * root, s / root), (s / root, s * root)]
                for w, h in boxes:
                    if clip:
                        x0, y0 = max(cx - w / 2, 0.0), max(cy - h / 2, 0.0)
                        x1, y1 = min(cx + w / 2, 1.0), min(cy + h / 2, 1.0)
                        cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
                    out.append((cx, cy, w, h))
    return torch.tensor(out, dtype=torch.float32)


def boxes_per_cell(ratios):
    return 2 + 2 * len(ratios)


def centre_to_corners(b):
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


def corners_to_centre(b):
    return torch.cat([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], -1)


def encode(boxes_xyxy, prior_cxcywh):
    c = corners_to_centre(boxes_xyxy)
    wh = c[..., 2:].clamp(min=1e-6)
    v = torch.tensor(VARIANCES, device=c.device)
    return torch.cat([(c[..., :2] - prior_cxcywh[..., :2]) / (prior_cxcywh[..., 2:] * v[:2]),
                      torch.log(wh / prior_cxcywh[..., 2:]) / v[2:]], -1)


def decode(offsets, prior_cxcywh):
    v = torch.tensor(VARIANCES, device=offsets.device)
    centre = prior_cxcywh[..., :2] + offsets[..., :2] * v[:2] * prior_cxcywh[..., 2:]
    size = prior_cxcywh[..., 2:] * torch.exp((offsets[..., 2:] * v[2:]).clamp(-10, 10))
    return centre_to_corners(torch.cat([centre, size], -1))


def iou(a, b):
    """Pairwise IoU of xyxy boxes a [..., n, 4] and b [m, 4]: [..., n, m]."""
    lt = torch.max(a[..., :, None, :2], b[:, :2])
    rb = torch.min(a[..., :, None, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[..., :, None] + area_b - inter).clamp(min=1e-9)


def match(gt_boxes, gt_labels, prior_cxcywh, threshold=0.5):
    """Per prior: class target (0 = background, else label + 1) and box offsets, for one image (boxes as fractions)."""
    count = prior_cxcywh.shape[0]
    if gt_boxes.numel() == 0:
        return torch.zeros(count, dtype=torch.long), torch.zeros(count, 4)
    overlaps = iou(gt_boxes, centre_to_corners(prior_cxcywh))  # [g, p]
    best_gt_iou, best_gt = overlaps.max(0)
    best_prior = overlaps.argmax(1)
    best_gt_iou[best_prior] = 2.0  # every object keeps its best prior
    best_gt[best_prior] = torch.arange(gt_boxes.shape[0])
    classes = gt_labels[best_gt] + 1
    classes[best_gt_iou < threshold] = 0
    return classes, encode(gt_boxes[best_gt], prior_cxcywh)


def match_batch(gt_boxes, gt_labels, valid, prior_cxcywh, threshold=0.5):
    """match() for a batch at once, on any device: gt_boxes [B, G, 4] and gt_labels [B, G] padded to G objects, valid
    [B, G] marking the real ones. Returns class targets [B, P] and box offsets [B, P, 4] equal to match() per image."""
    overlaps = iou(gt_boxes, centre_to_corners(prior_cxcywh)).masked_fill(~valid[:, :, None], -1.0)  # [B, G, P]
    best_gt_iou, best_gt = overlaps.max(1)
    best_prior = overlaps.argmax(2)
    rows = torch.arange(gt_boxes.shape[0], device=gt_boxes.device)
    for g in range(gt_boxes.shape[1]):  # in object order, as match() assigns: a later object wins a shared prior
        b, p = rows[valid[:, g]], best_prior[valid[:, g], g]
        best_gt_iou[b, p] = 2.0
        best_gt[b, p] = g
    classes = gt_labels.gather(1, best_gt) + 1
    classes[best_gt_iou < threshold] = 0
    matched = gt_boxes.gather(1, best_gt[..., None].expand(-1, -1, 4))
    return classes, encode(matched, prior_cxcywh)


def multibox_loss(scores, offsets, target_classes, target_offsets, negative_ratio=3):
    """Cross entropy with hard negatives (3 per positive) plus smooth L1 on the positives, per positive."""
    positive = target_classes > 0
    positives = positive.sum().clamp(min=1)
    ce = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), target_classes.reshape(-1), reduction="none").view_as(target_classes)
    with torch.no_grad():
        negative_ce = ce.clone()
        negative_ce[positive] = 0
        rank = negative_ce.argsort(1, descending=True).argsort(1)
        negatives = rank < (negative_ratio * positive.sum(1, keepdim=True)).clamp(max=positive.shape[1] - 1)
    class_loss = ce[positive | negatives].sum() / positives
    box_loss = F.smooth_l1_loss(offsets[positive], target_offsets[positive], reduction="sum") / positives
    return class_loss, box_loss
