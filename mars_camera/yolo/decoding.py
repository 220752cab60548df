"""YOLOv8 output decoding: the stock ONNX output (boxes already decoded) and per-scale raw heads (DFL + grid)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REG_MAX = 16  # YOLOv8 distribution-focal-loss bins per box side (64 = 4 * 16 channels)


@dataclass(frozen=True)
class BoxCandidates:
    """Per-anchor candidates before NMS: xyxy (A, 4) in MODEL-INPUT pixels and class scores (A, C) in 0..1."""

    xyxy: np.ndarray
    class_scores: np.ndarray

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"candidate boxes must be (A, 4), got {self.xyxy.shape}")
        if self.class_scores.ndim != 2 or self.class_scores.shape[0] != self.xyxy.shape[0]:
            raise ValueError(f"class scores must be (A={self.xyxy.shape[0]}, C), got {self.class_scores.shape}")

    @property
    def num_classes(self) -> int:
        """C."""
        return int(self.class_scores.shape[1])


def decode_decoded_output(prediction: np.ndarray, num_classes: int = 0,
                          score_threshold: float = 0.0) -> BoxCandidates:
    """Ultralytics' stock export output (1, 4+C(+extra), A) or (4+C, A) -> candidates whose best score > threshold.

    Rows 0..3 are cx, cy, w, h in model-input pixels, rows 4..4+C the sigmoid class scores.
    """
    pred = np.asarray(prediction, dtype=np.float32)
    if pred.ndim == 3:
        if pred.shape[0] != 1:
            raise ValueError(f"expected batch size 1 in the detector output, got shape {pred.shape}")
        pred = pred[0]
    if pred.ndim != 2 or pred.shape[0] < 5:
        raise ValueError(f"expected a (4+num_classes, anchors) detector output, got shape {prediction.shape}")
    nc = num_classes or pred.shape[0] - 4
    if 4 + nc > pred.shape[0]:
        raise ValueError(f"detector output has {pred.shape[0]} rows, fewer than 4 + {nc} classes")
    scores = pred[4:4 + nc]
    keep = np.flatnonzero(scores.max(axis=0) > score_threshold)  # filter first: only survivors are transposed
    pred = pred[:, keep]
    cx, cy, w, h = pred[0], pred[1], pred[2], pred[3]
    xyxy = np.empty((pred.shape[1], 4), dtype=np.float32)
    xyxy[:, 0] = cx - w / 2
    xyxy[:, 1] = cy - h / 2
    xyxy[:, 2] = cx + w / 2
    xyxy[:, 3] = cy + h / 2
    return BoxCandidates(xyxy, pred[4:4 + nc].T)


_GRID_CACHE: Dict[Tuple[int, int, int], np.ndarray] = {}


def make_anchor_grid(height: int, width: int, stride: int) -> np.ndarray:
    """Anchor centres (H*W, 2) in input pixels, row-major like the head's flattening: ((x+0.5)*s, (y+0.5)*s)."""
    key = (height, width, stride)
    grid = _GRID_CACHE.get(key)
    if grid is None:
        ys, xs = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
        grid = (np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1) + 0.5) * np.float32(stride)
        grid.setflags(write=False)
        _GRID_CACHE[key] = grid
    return grid


def dfl_distances(box_logits: np.ndarray, reg_max: int = REG_MAX) -> np.ndarray:
    """(A, 4*reg_max) DFL logits -> (A, 4) expected distances (l, t, r, b) in grid units (softmax expectation)."""
    a = box_logits.shape[0]
    logits = box_logits.reshape(a, 4, reg_max).astype(np.float32, copy=False)
    logits = logits - logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    # einsum, not `@`: keeps this small product out of a multi-threaded BLAS (see features.box_features).
    return np.einsum("asb,b->as", weights, np.arange(reg_max, dtype=np.float32))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


QuantPair = Optional[Tuple[float, float]]  # (scale, zero_point): real = (q - zero_point) * scale


def _dequantize(q: np.ndarray, quant: QuantPair) -> np.ndarray:
    if quant is None:
        return q.astype(np.float32, copy=False)
    return (q.astype(np.float32) - np.float32(quant[1])) * np.float32(quant[0])


def decode_raw_heads(box_maps: Sequence[np.ndarray], class_maps: Sequence[np.ndarray], strides: Sequence[int],
                     scores_are_logits: bool = True, score_threshold: float = 0.0,
                     box_quant: Optional[Sequence[QuantPair]] = None,
                     class_quant: Optional[Sequence[QuantPair]] = None,
                     reg_max: int = REG_MAX) -> BoxCandidates:
    """Per-scale raw YOLOv8 heads in NHWC ((H, W, 4*reg_max) box and (H, W, C) class maps) -> candidates.

    Only anchors whose best class score exceeds score_threshold are DFL-decoded (the expensive part).
    Quantized (uint8/uint16) maps are dequantized with their (scale, zero_point), box maps only at the kept
    anchors.
    Scales are concatenated in the given order (stride 8, 16, 32 matches the stock export's anchor order).
    """
    # Compare logits against logit(threshold): sigmoid is monotonic, so no exp over every anchor.
    if scores_are_logits:
        t = min(max(float(score_threshold), 1e-7), 1.0 - 1e-7)
        raw_threshold = float(np.log(t / (1.0 - t))) if score_threshold > 0 else -np.inf
    else:
        raw_threshold = float(score_threshold)
    if not (len(box_maps) == len(class_maps) == len(strides)) or not box_maps:
        raise ValueError(f"need one box map, class map and stride per scale, got {len(box_maps)}, "
                         f"{len(class_maps)}, {len(strides)}")
    boxes: List[np.ndarray] = []
    scores: List[np.ndarray] = []
    nscale = len(strides)
    box_quant = list(box_quant) if box_quant is not None else [None] * nscale
    class_quant = list(class_quant) if class_quant is not None else [None] * nscale
    for box_map, class_map, stride, bq, cq in zip(box_maps, class_maps, strides, box_quant, class_quant):
        box_map = np.asarray(box_map)
        class_map = np.asarray(class_map)
        if box_map.ndim == 4:
            box_map = box_map[0]
        if class_map.ndim == 4:
            class_map = class_map[0]
        h, w, ch = box_map.shape
        if ch != 4 * reg_max:
            raise ValueError(f"box head at stride {stride} has {ch} channels, expected {4 * reg_max} (DFL)")
        if class_map.shape[:2] != (h, w):
            raise ValueError(f"class head {class_map.shape} and box head {box_map.shape} differ at stride {stride}")
        cls = _dequantize(class_map.reshape(h * w, -1), cq)
        keep = np.flatnonzero(cls.max(axis=1) > raw_threshold)
        cls = cls[keep]
        dist = dfl_distances(_dequantize(box_map.reshape(h * w, ch)[keep], bq), reg_max) * np.float32(stride)
        centres = make_anchor_grid(h, w, int(stride))[keep]
        xyxy = np.concatenate([centres - dist[:, 0:2], centres + dist[:, 2:4]], axis=1)
        boxes.append(xyxy)
        scores.append(_sigmoid(cls) if scores_are_logits else cls)
    return BoxCandidates(np.concatenate(boxes).astype(np.float32, copy=False),
                         np.concatenate(scores).astype(np.float32, copy=False))
