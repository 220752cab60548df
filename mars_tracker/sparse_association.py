"""Association of crowded frames on gated pairs only: candidate pairs from a k-d tree, a sparse optimal matching.

The dense path (mars_tracker/association.py) builds every (track, detection) matrix of a stage: T x D values,
30 GiB for two frames of 100k detections. Where T x D exceeds ``DENSE_PAIR_LIMIT`` the tracker takes this path
instead. It never forms a T x D array: a pair can pass a stage's gate only if the box centres lie within a
radius that follows from the gate (below), so a k-d tree over the centres lists the candidates, the gates are
evaluated on those, the scorer prices the surviving pairs (``pair_cost``), and a sparse minimum-weight matching
solves the same objective as ``association.assign``. Memory and time follow the number of gated pairs, which
grows linearly with the detections at a given density (boxes per image area).

The result equals the dense path's for the pairs within the gate (pairs outside it are infeasible in both);
only the last bits of the floating-point values differ, because sums run in another order
(test_sparse_association compares the two on random scenes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from mars_tracker.association import (_NS, clip_to_image, learned_feature_columns, pair_overlaps,
                                      scale_from_matches)

if TYPE_CHECKING:  # annotations only
    from mars_core.detections import DetectionFrame
    from mars_tracker.config import TrackerConfig
    from mars_tracker.track_table import TrackTable

# Above this many (track, detection) pairs in a stage the tracker associates on gated pairs only. A dense
# float64 matrix of this size is 8 MB and a stage builds about ten: ordinary frames (tens of boxes) never
# come near it, so their results are exactly the dense path's.
DENSE_PAIR_LIMIT = 1_000_000
# Pairs evaluated per block when gating candidates (bounds the (P, 4, 4) gathers to about 130 MB).
_GATE_BLOCK = 1 << 20
# Relative and absolute slack of the candidate radius, so that rounding never loses a pair on the gate.
_RADIUS_SLACK = 1e-6


@dataclass(frozen=True)
class PairInputs:
    """The gated (track, detection) pairs of one stage of one frame, as flat arrays: the sparse AssociationInputs.

    Track columns (T rows) and detection columns (D) are those of ``AssociationInputs``; pair arrays (P,) hold
    the pairs that passed every gate, ``rows[i]`` indexing the tracks and ``cols[i]`` the stage's detections.
    ``appearance_distance`` is NaN where the track has no embedding yet (None without features).
    """

    track_ids: np.ndarray
    track_xywh: np.ndarray
    track_hits: np.ndarray
    track_seconds_since_update: np.ndarray
    det_xywh: np.ndarray
    det_scores: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    iou: np.ndarray
    diou: np.ndarray
    mahalanobis: np.ndarray
    appearance_distance: Optional[np.ndarray]
    appearance_scale: Optional[float] = None

    @property
    def shape(self) -> Tuple[int, int]:
        """(tracks, detections)."""
        return int(self.track_xywh.shape[0]), int(self.det_xywh.shape[0])


def pairs_within(centres_a: np.ndarray, radii: np.ndarray, centres_b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with |centres_a[i] - centres_b[j]| <= radii[i], without forming an (A, B) array.

    Points a are binned by radius (powers of two) and each bin is joined with one k-d tree over b at the bin's
    largest radius: one very uncertain track cannot widen every other track's search.
    """
    if centres_a.shape[0] == 0 or centres_b.shape[0] == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    tree_b = cKDTree(centres_b)
    bins = np.floor(np.log2(np.maximum(radii, 1e-3))).astype(np.int64)
    rows, cols = [], []
    for b in np.unique(bins):
        members = np.flatnonzero(bins == b)
        near = cKDTree(centres_a[members]).sparse_distance_matrix(tree_b, float(radii[members].max()),
                                                                   output_type="ndarray")
        i = members[near["i"]]
        keep = near["v"] <= radii[i]
        rows.append(i[keep])
        cols.append(near["j"][keep].astype(np.intp))
    return np.concatenate(rows).astype(np.intp), np.concatenate(cols)


def gated_pairs(tracks: "TrackTable", cols: np.ndarray, det_xywh: np.ndarray, frame: "DetectionFrame",
                innovation_cov: np.ndarray, s_inv: np.ndarray, unit_features: np.ndarray, config: "TrackerConfig",
                appearance_scale: Optional[float]) -> PairInputs:
    """The pairs of every live track and the detections ``cols`` that pass the first stage's gates.

    The same gates as ``association_inputs`` (Mahalanobis, class, appearance). A pair within the Mahalanobis
    gate g has |innovation|^2 <= g * lambda_max(S), so its centres lie within sqrt(g * lambda_max(S)) of each
    other: the candidates come from ``pairs_within`` with that radius per track.
    """
    t = tracks
    c = config
    predicted = clip_to_image(t["x"][:, 0:4], frame.image_width, frame.image_height)
    boxes = det_xywh[cols]
    largest = np.linalg.eigvalsh(innovation_cov)[:, -1]
    radius = np.sqrt(c.gate_mahalanobis * np.maximum(largest, 0.0)) * (1.0 + _RADIUS_SLACK) + _RADIUS_SLACK
    cand_rows, cand_cols = pairs_within(predicted[:, 0:2], radius, boxes[:, 0:2])
    det = frame.detections
    det_classes = det.class_ids[cols]
    with_app = det.features is not None and bool(t.feature_dim)
    features = unit_features[cols] if with_app else None
    kept_rows, kept_cols, kept_maha, kept_app = [], [], [], []
    for start in range(0, cand_rows.size, _GATE_BLOCK):
        r = cand_rows[start:start + _GATE_BLOCK]
        k = cand_cols[start:start + _GATE_BLOCK]
        y = boxes[k] - predicted[r]
        maha = np.maximum(np.einsum("pi,pij,pj->p", y, s_inv[r], y), 0.0)
        ok = maha <= c.gate_mahalanobis
        if not c.match_across_classes:
            ok &= t["class_id"][r] == det_classes[k]
        app = None
        if features is not None:
            app = 1.0 - np.einsum("pi,pi->p", t["embedding"][r].astype(np.float64), features[k])
            app[~t["has_embedding"][r]] = np.nan
            ok &= ~(app > c.appearance_gate)       # NaN (no embedding yet) stays allowed
        kept_rows.append(r[ok])
        kept_cols.append(k[ok])
        kept_maha.append(maha[ok])
        if app is not None:
            kept_app.append(app[ok])
    rows = np.concatenate(kept_rows) if kept_rows else np.zeros(0, np.intp)
    pair_cols = np.concatenate(kept_cols) if kept_cols else np.zeros(0, np.intp)
    maha_all = np.concatenate(kept_maha) if kept_maha else np.zeros(0)
    app_all: Optional[np.ndarray] = None
    if features is not None:
        app_all = np.concatenate(kept_app) if kept_app else np.zeros(0)
    iou, diou = pair_overlaps(predicted[rows], boxes[pair_cols])
    seconds = (frame.stamp_ns - t["last_update_ns"]) * _NS
    return PairInputs(t["track_id"], predicted, t["hits"], seconds, boxes, det.scores[cols].astype(np.float64),
                      rows, pair_cols, iou, diou, maha_all, app_all,
                      appearance_scale)


def overlap_pairs(track_xywh: np.ndarray, det_xywh: np.ndarray, track_classes: np.ndarray,
                  det_classes: np.ndarray, match_across_classes: bool,
                  cost_limit: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The second stage's pairs with 1 - IoU <= cost_limit: (rows, cols, cost), as ``overlap_cost`` prices them.

    IoU >= q > 0 bounds the partner's width and height by the track box's divided by q, so the centres lie
    within (1 + 1/q) / 2 of the track box's diagonal. Without a positive q (cost_limit 1) only overlapping
    boxes are candidates: a pair that does not overlap costs exactly the limit, the price of leaving both
    unmatched, so the optimum does not change without it.
    """
    q = 1.0 - cost_limit
    diagonal = np.hypot(track_xywh[:, 2], track_xywh[:, 3])
    if q > 0.0:
        radius = 0.5 * (1.0 + 1.0 / q) * diagonal
    else:
        radius = 0.5 * diagonal + 0.5 * float(np.hypot(det_xywh[:, 2], det_xywh[:, 3]).max(initial=0.0))
    rows, cols = pairs_within(track_xywh[:, 0:2], radius * (1.0 + _RADIUS_SLACK) + _RADIUS_SLACK, det_xywh[:, 0:2])
    iou = pair_overlaps(track_xywh[rows], det_xywh[cols])[0]
    if not match_across_classes:
        iou = np.where(track_classes[rows] == det_classes[cols], iou, 0.0)
    cost = 1.0 - iou
    keep = (cost <= cost_limit) & ((iou > 0.0) | (q > 0.0))
    return rows[keep], cols[keep], cost[keep]


def assign_pairs(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, cost_limit: float) -> np.ndarray:
    """Indices of the matched pairs of a minimum-cost one-to-one matching of the pairs with cost <= cost_limit.

    The objective of ``association.assign``: matched costs plus cost_limit / 2 for every row and column left
    unmatched. It is solved as a perfect matching of a graph with one stand-in per row and per column (a row
    left unmatched is matched to its stand-in at cost_limit / 2; the stand-ins of a matched pair's row and
    column pair up at no cost), which scipy's sparse LAPJV solves in time near-linear in the pairs here.
    """
    ok = np.flatnonzero(cost <= cost_limit)
    if ok.size == 0:
        return np.zeros(0, np.intp)
    row_ids, r = np.unique(rows[ok], return_inverse=True)
    col_ids, k = np.unique(cols[ok], return_inverse=True)
    n_r, n_c = row_ids.size, col_ids.size
    # Every perfect matching has n_r + n_c edges: an offset changes no optimum and keeps every weight non-zero
    # (a sparse matrix cannot hold an edge of weight 0).
    offset = 1.0
    half = 0.5 * cost_limit + offset
    left = np.concatenate([r, np.arange(n_r), n_r + k, n_r + np.arange(n_c)])
    right = np.concatenate([k, n_c + np.arange(n_r), n_c + r, np.arange(n_c)])
    weight = np.concatenate([cost[ok] + offset, np.full(n_r, half), np.full(ok.size, offset), np.full(n_c, half)])
    graph = csr_matrix((weight, (left, right)), shape=(n_r + n_c, n_r + n_c))
    match_left, match_right = min_weight_full_bipartite_matching(graph)
    real = (match_left < n_r) & (match_right < n_c)
    matched_r, matched_k = match_left[real], match_right[real]
    # Back from (row, column) of the matching to the pair that joins them (one pair per row and column).
    key = r.astype(np.int64) * n_c + k
    order = np.argsort(key, kind="stable")
    wanted = matched_r.astype(np.int64) * n_c + matched_k
    chosen = ok[order[np.searchsorted(key[order], wanted)]]
    return chosen[np.argsort(rows[chosen], kind="stable")]


def _group_min(values: np.ndarray, keys: np.ndarray, n: int, mask: np.ndarray) -> np.ndarray:
    """Smallest value per key (n,) over the pairs in mask; inf for keys without any."""
    out = np.full(n, np.inf)
    np.minimum.at(out, keys[mask], values[mask])
    return out


def _minus_best(values: np.ndarray, keys: np.ndarray, n: int, mask: np.ndarray) -> np.ndarray:
    """Each pair's value minus the smallest masked value of its key; 0 where the key has none (dense twin)."""
    best = _group_min(values, keys, n, mask)[keys]
    return np.where(np.isfinite(best), values - best, 0.0)


def _group_gap(values: np.ndarray, keys: np.ndarray, n: int, mask: np.ndarray) -> np.ndarray:
    """Per key (n,): second-smallest minus smallest masked value; inf with fewer than two."""
    k = keys[mask]
    v = values[mask]
    order = np.lexsort((v, k))
    k, v = k[order], v[order]
    gap = np.full(n, np.inf)
    if k.size < 2:
        return gap
    first = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    has_second = (first + 1 < k.size)
    has_second[has_second] = k[first[has_second] + 1] == k[first[has_second]]
    gap[k[first[has_second]]] = v[first[has_second] + 1] - v[first[has_second]]
    return gap


def pair_appearance_gap(app: np.ndarray, pairs: PairInputs, has: np.ndarray) -> np.ndarray:
    """HandTunedScorer's gap per pair: min over its row and column of (second-best - best) appearance distance."""
    n_t, n_d = pairs.shape
    return np.minimum(_group_gap(app, pairs.rows, n_t, has)[pairs.rows],
                      _group_gap(app, pairs.cols, n_d, has)[pairs.cols])


def pair_motion_cost(pairs: PairInputs) -> np.ndarray:
    """``association.motion_cost`` of each gated pair: (1 - DIoU) / 2."""
    return (1.0 - pairs.diou) * 0.5


def pair_features_of(pairs: PairInputs) -> np.ndarray:
    """``association.pair_features`` of every gated pair (P, len(PAIR_FEATURE_NAMES)) float32."""
    rows, cols = pairs.rows, pairs.cols
    n_t, n_d = pairs.shape
    every = np.ones(rows.size, bool)
    t_xywh = pairs.track_xywh[rows]
    d_xywh = pairs.det_xywh[cols]
    size = np.maximum(0.5 * (t_xywh[:, 2] + t_xywh[:, 3]), 1.0)
    motion = pair_motion_cost(pairs)
    if pairs.appearance_distance is not None:
        has_mask = np.isfinite(pairs.appearance_distance)
        app = np.where(has_mask, pairs.appearance_distance, 0.0)
        has = has_mask.astype(np.float64)
        app_row = _minus_best(app, rows, n_t, has_mask) * has
        app_col = _minus_best(app, cols, n_d, has_mask) * has
    else:
        app = np.zeros(rows.shape[0])
        has = np.zeros(rows.shape[0])
        app_row = app_col = app
    return learned_feature_columns(
        app, has, pairs.iou, motion, d_xywh, t_xywh, size, pairs.mahalanobis,
        pairs.track_seconds_since_update[rows], pairs.det_scores[cols], pairs.track_hits[rows], app_row, app_col,
        _minus_best(motion, rows, n_t, every), _minus_best(motion, cols, n_d, every), pairs.appearance_scale)


def learned_pair_appearance_scale(scale: Optional[float], pairs: PairInputs, matched: np.ndarray,
                                  min_hits: int) -> Optional[float]:
    """``association.learned_appearance_scale`` from the matched pairs (indices into the pair arrays)."""
    assert pairs.appearance_distance is not None
    return scale_from_matches(scale, pairs.appearance_distance[matched], pairs.iou[matched],
                              pairs.track_hits[pairs.rows[matched]], min_hits)
