"""Compiled per-frame steps of CameraTracker's lifecycle on the track table's columns (mars_core.jit kernels).

At a few detections per frame a frame's work is a few dozen numbers; done as numpy calls on (N,)-row columns
it was a few hundred calls, about 0.3 ms of fixed cost per frame. Each step below is one call over the rows
it touches, writing the table's columns in place. The arithmetic is the numpy version's, operation for
operation (sums of a few terms in the same order), so results are the same to the last bit or nearly.
"""
from __future__ import annotations

import math

import numpy as np

from mars_core.jit import kernel
from mars_core.tracks import STATUS_LOST, STATUS_NEW, STATUS_TRACKED
from mars_tracker.box_kalman import update_row

_BORDER_PX = 1.0
_NS = 1e-9


@kernel
def complete_border_rows(det_xyxy: np.ndarray, predicted_xywh: np.ndarray, width: float, height: float,
                         out_xywh: np.ndarray) -> None:
    """Measured corner boxes as centre/size, each side cut by the image border replaced by the predicted side.

    A flower half out of the image yields a half box; feeding that to the filter as the flower's size and
    centre would drag the track off and spawn a duplicate when it re-grows. width or height <= 0: no border.
    """
    with_border = width > 0 and height > 0
    for i in range(det_xyxy.shape[0]):
        for j in range(2):
            limit = width if j == 0 else height
            low = np.float64(det_xyxy[i, j])
            high = np.float64(det_xyxy[i, j + 2])
            if with_border:
                half = predicted_xywh[i, j + 2] * 0.5
                pred_low = predicted_xywh[i, j] - half
                pred_high = predicted_xywh[i, j] + half
                if low <= _BORDER_PX and pred_low < low:
                    low = pred_low
                if high >= limit - _BORDER_PX and pred_high > high:
                    high = pred_high
            out_xywh[i, j] = 0.5 * (low + high)
            out_xywh[i, j + 2] = high - low


@kernel
def record_matches(rows: np.ndarray, cols: np.ndarray, z: np.ndarray, filtered: np.ndarray, s_inv: np.ndarray,
                   det_scores: np.ndarray, det_classes: np.ndarray, unit_features: np.ndarray, stamp_ns: int,
                   momentum: float, min_hits: int, min_mean_score: float, prior_hits: float,
                   x: np.ndarray, p: np.ndarray, hits: np.ndarray, frames_since_update: np.ndarray,
                   last_update_ns: np.ndarray, score: np.ndarray, score_sum: np.ndarray, class_id: np.ndarray,
                   detection_index: np.ndarray, last_obs: np.ndarray, obs_x: np.ndarray, obs_p: np.ndarray,
                   embedding: np.ndarray, has_embedding: np.ndarray, confirmed: np.ndarray,
                   status: np.ndarray) -> int:
    """Track rows[i] matched detection cols[i] with (border-completed) box z[i]: update the columns in place.

    The Kalman update runs where ``filtered[i]`` is False (rows re-filtered by OC-SORT already hold their
    posterior). Embeddings move towards the detection's unit feature by (1 - momentum) and are re-normalised
    (skipped when unit_features has no columns). A track is confirmed at min_hits hits once its shrunk mean
    score (score_sum + prior_hits / 2) / (hits + prior_hits) reaches min_mean_score (<= 0: always).
    Returns how many tracks this confirmed.
    """
    newly = 0
    dim = unit_features.shape[1] if embedding.shape[1] == unit_features.shape[1] else 0
    for i in range(rows.shape[0]):
        r = rows[i]
        k = cols[i]
        if not filtered[i]:
            update_row(x[r], p[r], z[i], s_inv[r])
        hits[r] += 1
        frames_since_update[r] = 0
        last_update_ns[r] = stamp_ns
        score[r] = det_scores[k]
        score_sum[r] += np.float64(det_scores[k])
        class_id[r] = det_classes[k]
        detection_index[r] = k
        # Element loops, not row assignments: numba's array-broadcast setitem alone takes seconds to compile.
        for j in range(4):
            last_obs[r, j] = z[i, j]
        for j in range(x.shape[1]):
            obs_x[r, j] = x[r, j]
            for m in range(x.shape[1]):
                obs_p[r, j, m] = p[r, j, m]
        if dim > 0:
            norm2 = 0.0
            blended = np.empty(dim)
            for f in range(dim):
                v = unit_features[k, f]
                if has_embedding[r]:
                    v = momentum * np.float64(embedding[r, f]) + (1.0 - momentum) * v
                blended[f] = v
                norm2 += v * v
            scale = max(math.sqrt(norm2), 1e-12)
            for f in range(dim):
                embedding[r, f] = blended[f] / scale
            has_embedding[r] = True
        if not confirmed[r] and hits[r] >= min_hits and (
                min_mean_score <= 0.0
                or (score_sum[r] + 0.5 * prior_hits) / (np.float64(hits[r]) + prior_hits) >= min_mean_score):
            confirmed[r] = True
            newly += 1
        status[r] = STATUS_TRACKED if confirmed[r] else STATUS_NEW
    return newly


@kernel
def age_unmatched(matched: np.ndarray, stamp_ns: int, max_lost_s: float, max_tentative_lost_s: float,
                  width: float, height: float, x: np.ndarray, confirmed: np.ndarray,
                  frames_since_update: np.ndarray, last_update_ns: np.ndarray, status: np.ndarray,
                  gone: np.ndarray) -> int:
    """Count a miss on every row not ``matched``; mark ``gone`` those lost too long or wholly out of the image.

    Confirmed tracks become LOST (max_lost_s), tentative ones stay NEW (max_tentative_lost_s); with a known
    image size (> 0) a predicted box entirely outside it cannot be matched again. Returns the number gone.
    """
    n_gone = 0
    with_image = width > 0 and height > 0
    for r in range(x.shape[0]):
        gone[r] = False
        if matched[r]:
            continue
        frames_since_update[r] += 1
        status[r] = STATUS_LOST if confirmed[r] else STATUS_NEW
        since = (stamp_ns - last_update_ns[r]) * _NS
        out = since > (max_lost_s if confirmed[r] else max_tentative_lost_s)
        if with_image:
            half_w = x[r, 2] * 0.5
            half_h = x[r, 3] * 0.5
            out = out or x[r, 0] + half_w < 0 or x[r, 1] + half_h < 0 or x[r, 0] - half_w > width \
                or x[r, 1] - half_h > height
        if out:
            gone[r] = True
            n_gone += 1
    return n_gone


@kernel
def relax_lost_velocities(ego: np.ndarray, decay: float, still_speed: float, frames_since_update: np.ndarray,
                          x: np.ndarray) -> None:
    """Unmatched rows keep their velocity along the ego direction and the rest decays by ``decay``.

    ego is one image velocity per row (N, 2) or one for all (1, 2); rows whose ego speed is at most
    still_speed (the robot stands still: the direction is noise) are left alone.
    """
    for r in range(x.shape[0]):
        if frames_since_update[r] == 0:
            continue
        e = ego[r] if ego.shape[0] > 1 else ego[0]
        norm2 = e[0] * e[0] + e[1] * e[1]
        if not norm2 > still_speed * still_speed:
            continue
        along = (x[r, 4] * e[0] + x[r, 5] * e[1]) / norm2
        for j in range(2):
            along_j = along * e[j]
            x[r, 4 + j] = along_j + (x[r, 4 + j] - along_j) * decay
