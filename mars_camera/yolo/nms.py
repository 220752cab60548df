"""Score/class filtering and class-aware greedy NMS (same semantics as ultralytics + torchvision.ops.nms)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mars_camera.yolo.decoding import BoxCandidates

MAX_WH = 7680.0
_HAS_CV_NMS = hasattr(cv2, "dnn") and hasattr(cv2.dnn, "NMSBoxes")  # ultralytics' per-class coordinate offset: boxes of different classes never overlap


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes (0 where the union is empty)."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    # Outer operations on coordinate vectors: no (N, M, 2) temporaries.
    iw = np.minimum.outer(a[:, 2], b[:, 2])
    iw -= np.maximum.outer(a[:, 0], b[:, 0])
    np.maximum(iw, 0.0, out=iw)
    ih = np.minimum.outer(a[:, 3], b[:, 3])
    ih -= np.maximum.outer(a[:, 1], b[:, 1])
    np.maximum(ih, 0.0, out=ih)
    inter = iw
    inter *= ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = np.add.outer(area_a, area_b)
    union -= inter
    np.maximum(union, np.float32(1e-12), out=union)
    inter /= union
    return inter


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
                    max_detections: int = 300, use_opencv: bool = True) -> np.ndarray:
    """Indices kept by greedy NMS run per class (boxes of other classes never suppress), best score first.

    Same result as torchvision.ops.nms on class-offset boxes (what ultralytics does): a box is dropped when
    its IoU with a better kept box of its class exceeds iou_threshold. OpenCV's C++ NMSBoxes (present in
    OpenCV 4.x and 5.x) does the sweep; the numpy sweep is the fallback and the reference in tests.
    """
    n = int(scores.shape[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    boxes = xyxy[order].astype(np.float64) + (class_ids[order].astype(np.float64) * MAX_WH)[:, None]
    if use_opencv and _HAS_CV_NMS:
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        # Scores are passed already sorted (descending index order = rank) so that ties keep our order.
        ranks = np.linspace(1.0, 0.5, n, dtype=np.float32)
        # OpenCV's stubs declare Python lists for boxes and scores; NMSBoxes takes arrays.
        picked = cv2.dnn.NMSBoxes(xywh, ranks, 0.0, float(iou_threshold))  # type: ignore[arg-type]
        kept = np.asarray(picked, dtype=np.int64).reshape(-1)
        kept = np.sort(kept)[:max_detections]
    else:
        kept = _greedy_rows(boxes, iou_threshold, max_detections)
    return order[kept]


def _greedy_rows(boxes: np.ndarray, iou_threshold: float, max_detections: int) -> np.ndarray:
    """Greedy sweep, one vectorised IoU row per kept box against the survivors (for very many candidates)."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    remaining = np.arange(boxes.shape[0])
    keep: List[int] = []
    while remaining.size and len(keep) < max_detections:
        i = remaining[0]
        keep.append(i)
        rest = remaining[1:]
        b = boxes[rest]
        iw = np.minimum(boxes[i, 2], b[:, 2]) - np.maximum(boxes[i, 0], b[:, 0])
        ih = np.minimum(boxes[i, 3], b[:, 3]) - np.maximum(boxes[i, 1], b[:, 1])
        inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, np.float32(1e-12)), np.float32(0.0))
        remaining = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
