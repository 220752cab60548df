"""Parsing of the Hailo on-chip NMS output (HAILO_NMS_BY_CLASS, FLOAT32) into boxes in model-input pixels."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def parse_nms_by_class(per_class: Sequence[np.ndarray], input_width: int, input_height: int,
                       score_threshold: float = 0.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """List (one per class) of (n_c, 5) [y_min, x_min, y_max, x_max, score] normalised to the model input
    -> (xyxy in model-input pixels, scores, class_ids), sorted by descending score. Note HailoRT's y-first order.
    """
    boxes, scores, classes = [], [], []
    for class_id, dets in enumerate(per_class):
        dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
        if dets.shape[0] == 0:
            continue
        dets = dets[dets[:, 4] > score_threshold]
        xyxy = np.empty((dets.shape[0], 4), dtype=np.float32)
        xyxy[:, 0] = dets[:, 1] * input_width
        xyxy[:, 1] = dets[:, 0] * input_height
        xyxy[:, 2] = dets[:, 3] * input_width
        xyxy[:, 3] = dets[:, 2] * input_height
        boxes.append(xyxy)
        scores.append(dets[:, 4])
        classes.append(np.full(dets.shape[0], class_id, dtype=np.int32))
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
    xyxy = np.concatenate(boxes)
    score = np.concatenate(scores)
    cls = np.concatenate(classes)
    order = np.argsort(-score, kind="stable")
    return xyxy[order], score[order], cls[order]


def encode_nms_by_class(xyxy_input: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, num_classes: int,
                        input_width: int, input_height: int) -> list:
    """Inverse of parse_nms_by_class (used by the fake device and tests): per-class (n, 5) y-first normalised."""
    out = []
    for c in range(num_classes):
        m = class_ids == c
        b = np.asarray(xyxy_input, np.float32)[m]
        arr = np.empty((int(m.sum()), 5), dtype=np.float32)
        arr[:, 0] = np.clip(b[:, 1] / input_height, 0.0, 1.0)
        arr[:, 1] = np.clip(b[:, 0] / input_width, 0.0, 1.0)
        arr[:, 2] = np.clip(b[:, 3] / input_height, 0.0, 1.0)
        arr[:, 3] = np.clip(b[:, 2] / input_width, 0.0, 1.0)
        arr[:, 4] = np.asarray(scores, np.float32)[m]
        out.append(arr)
    return out
