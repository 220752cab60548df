"""Pairwise geometry of predicted tracks and detections, the inputs of a scorer, and optimal assignment.

``association_inputs`` builds a frame's gated pair matrices (Mahalanobis, class, appearance, overlaps) from a
camera's track table; ``CameraTracker`` runs the stages and the lifecycle around it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from mars_core.jit import kernel

if TYPE_CHECKING:  # annotations only: keeps this module importable without the tracker's state types
    from mars_core.detections import DetectionFrame
    from mars_tracker.config import TrackerConfig
    from mars_tracker.track_table import TrackTable

# Costs above every threshold mark pairs that must never be matched (lap needs finite numbers).
FORBIDDEN_COST = 1e6
_NS = 1e-9  # seconds per nanosecond, multiplied as in camera_tracker (same floating-point result)


def iou_and_diou(a_xywh: np.ndarray, b_xywh: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """IoU (A, B) and distance-IoU (A, B) of centre/size boxes (DIoU = IoU - centre distance^2 / hull diagonal^2)."""
    iou = np.empty((a_xywh.shape[0], b_xywh.shape[0]))
    diou = np.empty_like(iou)
    _all_pair_overlaps(np.asarray(a_xywh, np.float64), np.asarray(b_xywh, np.float64), iou, diou)
    return iou, diou


def pair_overlaps(a_xywh: np.ndarray, b_xywh: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """IoU (P,) and DIoU (P,) of the box pairs (a_xywh[i], b_xywh[i])."""
    iou = np.empty(a_xywh.shape[0])
    diou = np.empty_like(iou)
    _paired_overlaps(np.asarray(a_xywh, np.float64), np.asarray(b_xywh, np.float64), iou, diou)
    return iou, diou


@kernel
def _box_overlap(a: np.ndarray, b: np.ndarray) -> Tuple[float, float]:
    """IoU and DIoU of two centre/size boxes (the one overlap formula of the tracker)."""
    ax1, ay1, ax2, ay2 = a[0] - a[2] * 0.5, a[1] - a[3] * 0.5, a[0] + a[2] * 0.5, a[1] + a[3] * 0.5
    bx1, by1, bx2, by2 = b[0] - b[2] * 0.5, b[1] - b[3] * 0.5, b[0] + b[2] * 0.5, b[1] + b[3] * 0.5
    inter = max(min(ax2, bx2) - max(ax1, bx1), 0.0) * max(min(ay2, by2) - max(ay1, by1), 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    iou = inter / max(union, 1e-9)
    hull_w = max(ax2, bx2) - min(ax1, bx1)
    hull_h = max(ay2, by2) - min(ay1, by1)
    dx = a[0] - b[0]
    dy = a[1] - b[1]
    return iou, iou - (dx * dx + dy * dy) / max(hull_w * hull_w + hull_h * hull_h, 1e-9)


@kernel
def _all_pair_overlaps(a: np.ndarray, b: np.ndarray, iou_out: np.ndarray, diou_out: np.ndarray) -> None:
    """IoU and DIoU of every (a[i], b[j])."""
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            iou_out[i, j], diou_out[i, j] = _box_overlap(a[i], b[j])


@kernel
def _paired_overlaps(a: np.ndarray, b: np.ndarray, iou_out: np.ndarray, diou_out: np.ndarray) -> None:
    """IoU and DIoU of each pair (a[i], b[i])."""
    for i in range(a.shape[0]):
        iou_out[i], diou_out[i] = _box_overlap(a[i], b[i])


@dataclass(frozen=True)
class AssociationInputs:
    """Everything a scorer may use about the candidate (track, detection) pairs of one stage of one frame.

    Track columns (T rows) describe the tracks' PREDICTED state (ego-motion applied); detection columns (D)
    the frame's detections. Pair matrices are (T, D). ``appearance_distance`` is the cosine distance of the
    track's smoothed embedding to the detection's feature, NaN where either has none (None when no pair has).
    ``allowed`` marks the pairs that passed the gates; a scorer must give every other pair FORBIDDEN_COST, and
    ``iou``/``diou`` are computed only there (0 and -1 elsewhere).
    ``appearance_scale`` is the camera's typical cosine distance of a correct match (estimated online; None
    until known): embedding models differ by orders of magnitude in how far apart "same" and "other" lie.
    """

    track_ids: np.ndarray
    track_xywh: np.ndarray
    track_hits: np.ndarray
    track_seconds_since_update: np.ndarray
    det_xywh: np.ndarray
    det_scores: np.ndarray
    iou: np.ndarray
    diou: np.ndarray
    mahalanobis: np.ndarray
    appearance_distance: Optional[np.ndarray]
    allowed: np.ndarray
    appearance_scale: Optional[float] = None

    @property
    def shape(self) -> Tuple[int, int]:
        """(tracks, detections)."""
        return int(self.track_xywh.shape[0]), int(self.det_xywh.shape[0])


def clip_to_image(xywh: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes (N, 4) cut to the image as a detector would report them (unchanged when the size is unknown)."""
    if width <= 0 or height <= 0 or xywh.shape[0] == 0:
        return xywh
    out = np.empty((xywh.shape[0], 4))
    _clip_rows(xywh, float(width), float(height), out)
    return out


@kernel
def _clip_rows(xywh: np.ndarray, width: float, height: float, out: np.ndarray) -> None:
    """Each centre/size box cut to [0, width] x [0, height], at least 1 px wide and high."""
    for i in range(xywh.shape[0]):
        for j in range(2):
            size = width if j == 0 else height
            half = xywh[i, j + 2] * 0.5
            low = min(max(xywh[i, j] - half, 0.0), size)
            high = min(max(xywh[i, j] + half, 0.0), size)
            out[i, j] = (low + high) * 0.5
            out[i, j + 2] = max(high - low, 1.0)


def association_inputs(tracks: "TrackTable", cols: np.ndarray, det_xywh: np.ndarray, frame: "DetectionFrame",
                       s_inv: np.ndarray, unit_features: np.ndarray, config: "TrackerConfig",
                       appearance_scale: Optional[float]) -> AssociationInputs:
    """Pairwise inputs of every live track (predicted state, viewed without copying) and the detections `cols`.

    ``s_inv`` holds the tracks' inverse innovation covariances, ``unit_features`` the frame's L2-normalised
    features (all detections), ``appearance_scale`` the camera's current typical match distance.
    """
    t = tracks
    c = config
    det = frame.detections
    # Detectors clip boxes at the image border: compare with the prediction clipped the same way.
    predicted = clip_to_image(t["x"][:, 0:4], frame.image_width, frame.image_height)
    boxes = det_xywh[cols]
    n_t, n_d = predicted.shape[0], cols.size
    with_app = det.features is not None and bool(t.feature_dim) and n_t > 0 and n_d > 0
    embeddings = t["embedding"] if with_app else np.zeros((n_t, 0), np.float32)
    features = unit_features[cols] if with_app else np.zeros((n_d, 0))
    maha = np.empty((n_t, n_d))
    app = np.empty((n_t, n_d)) if with_app else np.empty((0, 0))
    allowed = np.empty((n_t, n_d), np.bool_)
    iou = np.empty((n_t, n_d))
    diou = np.empty((n_t, n_d))
    _gated_pair_matrices(predicted, s_inv, t["class_id"], boxes, det.class_ids[cols], float(c.gate_mahalanobis),
                         bool(c.match_across_classes), embeddings, t["has_embedding"], features,
                         float(c.appearance_gate), maha, app, allowed, iou, diou)
    seconds = (frame.stamp_ns - t["last_update_ns"]) * _NS
    return AssociationInputs(t["track_id"], predicted, t["hits"], seconds, boxes,
                             det.scores[cols].astype(np.float64), iou, diou, maha, app if with_app else None,
                             allowed, appearance_scale)


@kernel
def _gated_pair_matrices(track_xywh: np.ndarray, s_inv: np.ndarray, track_class: np.ndarray, det_xywh: np.ndarray,
                         det_class: np.ndarray, gate: float, across_classes: bool, embeddings: np.ndarray,
                         has_embedding: np.ndarray, features: np.ndarray, appearance_gate: float,
                         maha_out: np.ndarray, app_out: np.ndarray, allowed_out: np.ndarray, iou_out: np.ndarray,
                         diou_out: np.ndarray) -> None:
    """Every (track, detection) pair's squared Mahalanobis distance, appearance distance, gate and overlaps.

    A pair is allowed when within the Mahalanobis gate, of the same class (unless across_classes) and not
    farther than appearance_gate in appearance (a track without embedding: NaN, allowed). IoU and DIoU are
    computed only for allowed pairs (0 and -1 elsewhere), with the formula of ``_overlap``. Appearance is
    skipped when app_out has no columns (no features).
    """
    with_app = app_out.shape[1] > 0
    for i in range(track_xywh.shape[0]):
        for j in range(det_xywh.shape[0]):
            y0 = det_xywh[j, 0] - track_xywh[i, 0]
            y1 = det_xywh[j, 1] - track_xywh[i, 1]
            y2 = det_xywh[j, 2] - track_xywh[i, 2]
            y3 = det_xywh[j, 3] - track_xywh[i, 3]
            d2 = 0.0
            for r in range(4):
                y_r = det_xywh[j, r] - track_xywh[i, r]
                d2 += y_r * (s_inv[i, r, 0] * y0 + s_inv[i, r, 1] * y1 + s_inv[i, r, 2] * y2 + s_inv[i, r, 3] * y3)
            d2 = max(d2, 0.0)
            maha_out[i, j] = d2
            ok = d2 <= gate and (across_classes or track_class[i] == det_class[j])
            if with_app:
                if has_embedding[i]:
                    dot = 0.0
                    for f in range(features.shape[1]):
                        dot += np.float64(embeddings[i, f]) * features[j, f]
                    app = 1.0 - dot
                    ok = ok and not app > appearance_gate
                else:
                    app = math.nan
                app_out[i, j] = app
            allowed_out[i, j] = ok
            if ok:
                iou_out[i, j], diou_out[i, j] = _box_overlap(track_xywh[i], det_xywh[j])
            else:
                iou_out[i, j], diou_out[i, j] = 0.0, -1.0


def overlap_cost(track_xywh: np.ndarray, det_xywh: np.ndarray, track_classes: np.ndarray, det_classes: np.ndarray,
                 match_across_classes: bool) -> np.ndarray:
    """ByteTrack's second-stage cost (T, D): 1 - IoU, and 1 for pairs of different classes unless allowed."""
    out = np.empty((track_xywh.shape[0], det_xywh.shape[0]))
    _overlap_cost(np.asarray(track_xywh, np.float64), np.asarray(det_xywh, np.float64), track_classes,
                  det_classes, bool(match_across_classes), out)
    return out


@kernel
def _overlap_cost(track_xywh: np.ndarray, det_xywh: np.ndarray, track_classes: np.ndarray, det_classes: np.ndarray,
                  across_classes: bool, out: np.ndarray) -> None:
    """1 - IoU of every (track, detection) pair; 1 across classes unless across_classes."""
    for i in range(track_xywh.shape[0]):
        for j in range(det_xywh.shape[0]):
            if across_classes or track_classes[i] == det_classes[j]:
                out[i, j] = 1.0 - _box_overlap(track_xywh[i], det_xywh[j])[0]
            else:
                out[i, j] = 1.0


def learned_appearance_scale(scale: Optional[float], inputs: AssociationInputs, rows: np.ndarray,
                             cols: np.ndarray, min_hits: int) -> Optional[float]:
    """The typical appearance distance of confident matches (good overlap, min_hits hits), smoothed into scale."""
    return scale_from_matches(scale, inputs.appearance_distance[rows, cols],  # type: ignore[index]
                              inputs.iou[rows, cols], inputs.track_hits[rows], min_hits)


def scale_from_matches(scale: Optional[float], app: np.ndarray, iou: np.ndarray, hits: np.ndarray,
                       min_hits: int) -> Optional[float]:
    """The smoothed scale from matched pairs' appearance distances, IoUs and their tracks' hits."""
    sure = np.isfinite(app) & (iou > 0.5) & (hits >= min_hits)
    if sure.sum() < 3:
        return scale
    values = np.sort(app[sure])
    median = max(float(values[values.size // 2]), 1e-4)
    return median if scale is None else 0.9 * scale + 0.1 * median


def motion_cost(inputs: AssociationInputs) -> np.ndarray:
    """Geometric cost in [0, 1] of every pair: (1 - DIoU) / 2, so boxes that do not overlap still rank by distance."""
    return (1.0 - inputs.diou) * 0.5


PAIR_FEATURE_NAMES: Tuple[str, ...] = (
    "appearance_distance", "has_appearance", "iou", "motion_cost", "dx_rel", "dy_rel", "log_w_ratio",
    "log_h_ratio", "mahalanobis", "seconds_since_update", "det_score", "log_track_hits",
    "appearance_minus_row_best", "appearance_minus_col_best", "motion_minus_row_best", "motion_minus_col_best",
    "appearance_relative", "appearance_relative_minus_row_best")


def _minus_best(values: np.ndarray, allowed: np.ndarray, axis: int) -> np.ndarray:
    """Each allowed pair's value minus the best (smallest) allowed value of its row (axis=1) or column (axis=0)."""
    masked = np.where(allowed, values, np.inf)
    best = masked.min(axis=axis, keepdims=True)
    return np.where(np.isfinite(best), values - best, 0.0)


def pair_features(inputs: AssociationInputs, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Feature rows (P, len(PAIR_FEATURE_NAMES)) float32 of the pairs (rows[i], cols[i]) for a learned scorer."""
    t_xywh = inputs.track_xywh[rows]
    d_xywh = inputs.det_xywh[cols]
    size = np.maximum(0.5 * (t_xywh[:, 2] + t_xywh[:, 3]), 1.0)
    motion = motion_cost(inputs)
    if inputs.appearance_distance is not None:
        app_full = inputs.appearance_distance
        has_full = np.isfinite(app_full)
        app_clean = np.where(has_full, app_full, 0.0)
        app_allowed = inputs.allowed & has_full
        app_row = _minus_best(app_clean, app_allowed, 1)[rows, cols]
        app_col = _minus_best(app_clean, app_allowed, 0)[rows, cols]
        app = app_clean[rows, cols]
        has = has_full[rows, cols].astype(np.float64)
        app_row, app_col = app_row * has, app_col * has
    else:
        app = np.zeros(rows.shape[0])
        has = np.zeros(rows.shape[0])
        app_row = app_col = app
    return learned_feature_columns(
        app, has, inputs.iou[rows, cols], motion[rows, cols], d_xywh, t_xywh, size,
        inputs.mahalanobis[rows, cols], inputs.track_seconds_since_update[rows], inputs.det_scores[cols],
        inputs.track_hits[rows], app_row, app_col,
        _minus_best(motion, inputs.allowed, 1)[rows, cols], _minus_best(motion, inputs.allowed, 0)[rows, cols],
        inputs.appearance_scale)


def learned_feature_columns(app: np.ndarray, has: np.ndarray, iou: np.ndarray, motion: np.ndarray,
                            d_xywh: np.ndarray, t_xywh: np.ndarray, size: np.ndarray, mahalanobis: np.ndarray,
                            seconds_since_update: np.ndarray, det_scores: np.ndarray, track_hits: np.ndarray,
                            app_row: np.ndarray, app_col: np.ndarray, motion_row: np.ndarray, motion_col: np.ndarray,
                            appearance_scale: Optional[float]) -> np.ndarray:
    """The learned scorer's input (P, 18) float32 from per-pair columns, in the order the model was trained on
    (one layout for the dense and the gated-sparse association); the appearance distances also relative to the
    camera's appearance scale (1 while it is unknown), capped at 50."""
    scale = appearance_scale if appearance_scale else 1.0
    app_rel, app_rel_row = np.minimum(app / scale, 50.0), np.minimum(app_row / scale, 50.0)
    out = np.stack([
        app, has, iou, motion,
        (d_xywh[:, 0] - t_xywh[:, 0]) / size, (d_xywh[:, 1] - t_xywh[:, 1]) / size,
        np.log(np.maximum(d_xywh[:, 2], 1.0) / np.maximum(t_xywh[:, 2], 1.0)),
        np.log(np.maximum(d_xywh[:, 3], 1.0) / np.maximum(t_xywh[:, 3], 1.0)),
        np.sqrt(np.maximum(mahalanobis, 0.0)),
        np.minimum(seconds_since_update, 5.0),
        det_scores, np.log1p(track_hits.astype(np.float64)),
        app_row, app_col, motion_row, motion_col, app_rel, app_rel_row,
    ], axis=1)
    return out.astype(np.float32)


def assign(cost: np.ndarray, cost_limit: float) -> Tuple[np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one matching; returns matched (rows, cols) with cost <= cost_limit.

    Optimal for the objective "sum of matched costs + cost_limit / 2 for every row and column left unmatched"
    (lap.lapjv's cost_limit rule): solving scipy's linear_sum_assignment on min(cost, cost_limit) and dropping
    the pairs at the cap gives the same optimum (assigning a capped pair costs exactly what leaving its row and
    column unmatched costs), several times faster than lapjv's padded problem on these small matrices. Rows and
    columns without any acceptable pair are left out first.
    """
    row_idx, col_idx, sub, best = _acceptable_lines(cost, float(cost_limit))
    if row_idx.size == 0:
        return row_idx, col_idx
    if row_idx.size == 1 or col_idx.size == 1:
        # A single row or column: the best entry is the optimum.
        r, c = divmod(best, sub.shape[1])
        return row_idx[r:r + 1], col_idx[c:c + 1]
    rows, cols = linear_sum_assignment(np.minimum(sub, cost_limit))
    keep = sub[rows, cols] <= cost_limit
    return row_idx[rows[keep]].astype(np.intp), col_idx[cols[keep]].astype(np.intp)


@kernel
def _acceptable_lines(cost: np.ndarray, cost_limit: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The rows and columns of cost with an entry <= cost_limit, the sub-matrix they span, and the flat index of
    the sub-matrix's smallest entry (first on ties, as np.argmin)."""
    n_r, n_c = cost.shape
    col_ok = np.empty(n_c, np.bool_)
    col_ok[:] = False
    row_idx = np.empty(n_r, np.int64)
    n_rows = 0
    for i in range(n_r):
        row_has = False
        for j in range(n_c):
            if cost[i, j] <= cost_limit:
                row_has = True
                col_ok[j] = True
        if row_has:
            row_idx[n_rows] = i
            n_rows += 1
    col_idx = np.empty(n_c, np.int64)
    n_cols = 0
    for j in range(n_c):
        if col_ok[j]:
            col_idx[n_cols] = j
            n_cols += 1
    row_idx, col_idx = row_idx[:n_rows], col_idx[:n_cols]
    sub = np.empty((n_rows, n_cols))
    best, best_cost = 0, math.inf
    for a in range(row_idx.size):
        for b in range(col_idx.size):
            sub[a, b] = cost[row_idx[a], col_idx[b]]
            if sub[a, b] < best_cost:
                best, best_cost = a * col_idx.size + b, sub[a, b]
    return row_idx, col_idx, sub, best
