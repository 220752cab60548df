"""Per-camera tracking scores of MOTChallenge tables: HOTA (trackeval), MOTA/MOTP/IDF1/ID switches (motmetrics).

Both libraries are the reference implementations of their metrics; motmetrics' own MOT15 TUD-Campus
figures are reproduced by this module (test/sim/test_sim_evaluation.py). Boxes match at IoU >= 0.5 for
CLEAR/ID metrics; HOTA integrates over IoU thresholds 0.05..0.95 as defined.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from mars_sim.evaluation.mot_files import MotTable
from mars_sim.evaluation.numpy_compat import import_motmetrics, import_trackeval

IOU_THRESHOLD = 0.5
MOTMETRICS_NAMES = ["mota", "motp", "idf1", "idp", "idr", "num_switches", "num_false_positives", "num_misses",
                    "num_objects", "num_unique_objects", "mostly_tracked", "mostly_lost", "num_fragmentations",
                    "precision", "recall"]


def _frames(gt: MotTable, result: MotTable) -> np.ndarray:
    frames = np.union1d(gt.frame, result.frame)
    return frames.astype(np.int64)


def _split(table: MotTable, frames: np.ndarray) -> List[np.ndarray]:
    """Row indices of the table per frame of frames."""
    order = np.argsort(table.frame, kind="stable")
    sorted_frames = table.frame[order]
    lo = np.searchsorted(sorted_frames, frames, side="left")
    hi = np.searchsorted(sorted_frames, frames, side="right")
    return [order[a:b] for a, b in zip(lo, hi)]


def clear_and_identity(gt: MotTable, result: MotTable) -> Dict[str, float]:
    """MOTA, MOTP (1 - mean IoU distance convention of motmetrics), IDF1, ID switches and counts."""
    mm = import_motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    frames = _frames(gt, result)
    for frame, gi, ri in zip(frames, _split(gt, frames), _split(result, frames)):
        dist = mm.distances.iou_matrix(gt.xywh[gi], result.xywh[ri], max_iou=1.0 - IOU_THRESHOLD)
        acc.update(gt.track_id[gi].tolist(), result.track_id[ri].tolist(), dist, frameid=int(frame))
    summary = mm.metrics.create().compute(acc, metrics=MOTMETRICS_NAMES, name="seq")
    out = {}
    for name in MOTMETRICS_NAMES:
        value = float(summary[name].iloc[0])
        out[name] = value if np.isfinite(value) else float("nan")
    return {"MOTA": out["mota"], "MOTP_iou_distance": out["motp"], "IDF1": out["idf1"], "IDP": out["idp"],
            "IDR": out["idr"], "IDSW": int(out["num_switches"]), "FP": int(out["num_false_positives"]),
            "FN": int(out["num_misses"]), "gt_boxes": int(out["num_objects"]),
            "gt_ids": int(out["num_unique_objects"]), "mostly_tracked": int(out["mostly_tracked"]),
            "mostly_lost": int(out["mostly_lost"]), "fragmentations": int(out["num_fragmentations"]),
            "precision": out["precision"], "recall": out["recall"]}


def hota(gt: MotTable, result: MotTable) -> Dict[str, float]:
    """HOTA, DetA, AssA, LocA (averaged over the IoU thresholds) with trackeval's implementation."""
    trackeval = import_trackeval()
    from trackeval.datasets._base_dataset import _BaseDataset
    frames = _frames(gt, result)
    gt_ids_u, gt_inv = np.unique(gt.track_id, return_inverse=True)
    tr_ids_u, tr_inv = np.unique(result.track_id, return_inverse=True)
    data: Dict[str, Any] = {"num_timesteps": int(frames.size), "num_gt_ids": int(gt_ids_u.size),
                               "num_tracker_ids": int(tr_ids_u.size), "num_gt_dets": int(len(gt)),
                               "num_tracker_dets": int(len(result)), "gt_ids": [], "tracker_ids": [],
                               "similarity_scores": []}
    for gi, ri in zip(_split(gt, frames), _split(result, frames)):
        data["gt_ids"].append(gt_inv[gi].astype(int))
        data["tracker_ids"].append(tr_inv[ri].astype(int))
        data["similarity_scores"].append(
            _BaseDataset._calculate_box_ious(gt.xywh[gi], result.xywh[ri], box_format="xywh"))
    res = trackeval.metrics.HOTA().eval_sequence(data)
    return {"HOTA": float(np.mean(res["HOTA"])), "DetA": float(np.mean(res["DetA"])),
            "AssA": float(np.mean(res["AssA"])), "LocA": float(np.mean(res["LocA"]))}


def tracking_scores(gt: MotTable, result: MotTable) -> Dict[str, float]:
    """All tracking scores of one camera (or one external MOT sequence)."""
    scores: Dict[str, float] = {}
    scores.update(hota(gt, result))
    scores.update(clear_and_identity(gt, result))
    return scores
