"""Score/class filtering and class-aware greedy NMS (same semantics as ultralytics + torchvision.ops.nms)."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from mars_camera.yolo.decoding import BoxCandidates

MAX_WH = 7680.0  # ultralytics' per-class coordinate offset: boxes of different classes never overlap


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def filter_candidates(candidates: BoxCandidates, score_threshold: float,
                      class_filter: Optional[Sequence[int]] = None,
                      max_candidates: int = 30000) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best class per anchor, then score > threshold and class in class_filter; returns (xyxy, scores, class_ids).

    Keeps at most max_candidates (highest scores), as ultralytics' max_nms does.
    """
    scores_all = candidates.class_scores
    if scores_all.shape[0] == 0:
        return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    class_ids = scores_all.argmax(axis=1).astype(np.int32)
    scores = np.take_along_axis(scores_all, class_ids[:, None], axis=1)[:, 0]
    keep = scores > score_threshold
    if class_filter:
        keep &= np.isin(class_ids, np.asarray(list(class_filter), dtype=np.int32))
    idx = np.flatnonzero(keep)
    if idx.size > max_candidates:
        idx = idx[np.argsort(-scores[idx], kind="stable")[:max_candidates]]
    return candidates.xyxy[idx], scores[idx].astype(np.float32), class_ids[idx]


def class_aware_nms(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float,
                    max_detections: int = 300) -> np.ndarray:
    """Indices kept by greedy NMS run per class (boxes of other classes never suppress), best score first."""
    n = int(scores.shape[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    boxes = xyxy[order].astype(np.float32) + (class_ids[order].astype(np.float32) * np.float32(MAX_WH))[:, None]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    # Greedy sweep: one vectorised IoU row per KEPT box against the survivors (iterations <= kept boxes).
    remaining = np.arange(n)
    keep = []
    while remaining.size and len(keep) < max_detections:
        i = remaining[0]
        keep.append(i)
        rest = remaining[1:]
        if rest.size == 0:
            break
        b = boxes[rest]
        iw = np.minimum(boxes[i, 2], b[:, 2]) - np.maximum(boxes[i, 0], b[:, 0])
        ih = np.minimum(boxes[i, 3], b[:, 3]) - np.maximum(boxes[i, 1], b[:, 1])
        inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, np.float32(1e-12)), np.float32(0.0))
        remaining = rest[iou <= iou_threshold]
    return order[np.asarray(keep, dtype=np.int64)]
