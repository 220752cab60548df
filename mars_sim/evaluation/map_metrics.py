"""Map scores: predicted flowers matched one-to-one to true flowers within a radius (Hungarian).

Duplicates, two views of the same thing: ``duplicates`` counts surplus map flowers (unmatched map flowers within
the radius of a true flower, which is then always a matched one: the matching has maximum cardinality);
``duplicated_true`` counts the true flowers with more than one map flower within the radius, i.e. their
one-to-one match plus at least one surplus map flower whose nearest true flower they are. A perfect map has
zero of both even where true flowers stand closer together than the radius.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree


def match_flowers(true_xy: np.ndarray, pred_xy: np.ndarray, radius_m: float) -> np.ndarray:
    """(K, 2) index pairs (true, predicted) of the minimum-total-distance one-to-one matching within radius."""
    true_xy = np.asarray(true_xy, dtype=float).reshape(-1, 2)
    pred_xy = np.asarray(pred_xy, dtype=float).reshape(-1, 2)
    if true_xy.shape[0] == 0 or pred_xy.shape[0] == 0:
        return np.zeros((0, 2), np.int64)
    # Sparse candidate pairs first: a dense cost matrix of 10^4 x 10^4 flowers would not fit.
    pairs = cKDTree(true_xy).query_ball_tree(cKDTree(pred_xy), radius_m)
    ti = np.repeat(np.arange(len(pairs)), [len(p) for p in pairs])
    pj = np.fromiter((j for p in pairs for j in p), dtype=np.int64, count=ti.size)
    if ti.size == 0:
        return np.zeros((0, 2), np.int64)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    # Hungarian per connected component of the candidate graph (exact, and small problems).
    n_t = true_xy.shape[0]
    graph = csr_matrix((np.ones(ti.size), (ti, pj + n_t)), shape=(n_t + pred_xy.shape[0],) * 2)
    _, labels = connected_components(graph, directed=False)
    dist = np.linalg.norm(true_xy[ti] - pred_xy[pj], axis=1)
    matches = []
    comp = labels[ti]
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    big = 1e6
    for idx in np.split(order, bounds):
        t_u, t_inv = np.unique(ti[idx], return_inverse=True)
        p_u, p_inv = np.unique(pj[idx], return_inverse=True)
        cost = np.full((t_u.size, p_u.size), big)
        cost[t_inv, p_inv] = dist[idx]
        rows, cols = linear_sum_assignment(cost)
        ok = cost[rows, cols] < big
        matches.append(np.column_stack([t_u[rows[ok]], p_u[cols[ok]]]))
    return np.concatenate(matches).astype(np.int64)


def map_scores(true_xy: np.ndarray, pred_xy: np.ndarray, radius_m: float) -> Dict[str, float]:
    """Precision, recall, F1, localisation error (median, p90, mean, RMSE, mean offset) and duplicates (both views,
    see the module docstring)."""
    true_xy = np.asarray(true_xy, dtype=float).reshape(-1, 2)
    pred_xy = np.asarray(pred_xy, dtype=float).reshape(-1, 2)
    m = match_flowers(true_xy, pred_xy, radius_m)
    n_true, n_pred, n_match = true_xy.shape[0], pred_xy.shape[0], m.shape[0]
    precision = n_match / n_pred if n_pred else float("nan")
    recall = n_match / n_true if n_true else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if n_match else 0.0
    err_vec = pred_xy[m[:, 1]] - true_xy[m[:, 0]]
    err = np.linalg.norm(err_vec, axis=1)
    # Surplus map flowers: unmatched predictions within the radius of a true flower (a matched one: any true flower
    # within the radius of an unmatched prediction is matched, or the matching would not be maximal). Each is
    # attributed to its nearest true flower; the true flowers so attributed have more than one map flower.
    unmatched = np.setdiff1d(np.arange(n_pred), m[:, 1])
    duplicates = duplicated_true = 0
    if unmatched.size and n_match:
        d, nearest = cKDTree(true_xy).query(pred_xy[unmatched], distance_upper_bound=radius_m)
        near = np.isfinite(d)
        duplicates = int(np.sum(near))
        duplicated_true = int(np.unique(nearest[near]).size)
    nan = float("nan")
    return {
        "true": n_true, "predicted": n_pred, "matched": n_match, "precision": precision, "recall": recall, "f1": f1,
        "loc_error_median_m": float(np.median(err)) if n_match else nan,
        "loc_error_p90_m": float(np.percentile(err, 90)) if n_match else nan,
        "loc_error_mean_m": float(err.mean()) if n_match else nan,
        "loc_error_rmse_m": float(np.sqrt(np.mean(err ** 2))) if n_match else nan,
        "mean_offset_x_m": float(err_vec[:, 0].mean()) if n_match else nan,
        "mean_offset_y_m": float(err_vec[:, 1].mean()) if n_match else nan,
        "duplicates": duplicates, "duplicated_true": duplicated_true,
        "duplicated_true_pct": 100.0 * duplicated_true / n_true if n_true else nan,
        "false_positives": int(n_pred - n_match - duplicates),
        "missed": int(n_true - n_match), "radius_m": float(radius_m),
    }
