"""Shared evaluation for the tracker benchmarks: MOTA/IDF1 (motmetrics) and HOTA (TrackEval) per sequence.

Frames are given as ground-truth ids, tracker ids and a similarity matrix (IoU for boxes; 1/0 for "same
detection" at detection level), so the same code scores MOTChallenge files and simulated detection streams.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 still calls np.asfarray (removed in NumPy 2)
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]

import motmetrics as mm  # noqa: E402
from trackeval.metrics import HOTA  # noqa: E402


@dataclass
class SequenceFrames:
    """Per frame: gt ids (G,), tracker ids (T,), similarity (G, T) in [0, 1]."""

    gt_ids: List[np.ndarray] = field(default_factory=list)
    tracker_ids: List[np.ndarray] = field(default_factory=list)
    similarity: List[np.ndarray] = field(default_factory=list)
    # track id -> {true id (-1 = false detection): detections}, for the tracker-only count
    track_truth: Dict[int, Dict[int, int]] = field(default_factory=dict)

    def note_truth(self, track_ids: np.ndarray, true_ids: np.ndarray) -> None:
        """Remember which true object each output track was matched to in this frame."""
        for t, g in zip(track_ids.tolist(), true_ids.tolist()):
            votes = self.track_truth.setdefault(int(t), {})
            votes[int(g)] = votes.get(int(g), 0) + 1

    def flower_track_count(self) -> int:
        """Output tracks whose detections are mostly of true objects (not false positives)."""
        return sum(1 for votes in self.track_truth.values() if max(votes, key=votes.get) >= 0)

    def add(self, gt_ids: np.ndarray, tracker_ids: np.ndarray, similarity: np.ndarray) -> None:
        """Append one frame."""
        self.gt_ids.append(np.asarray(gt_ids, dtype=np.int64))
        self.tracker_ids.append(np.asarray(tracker_ids, dtype=np.int64))
        self.similarity.append(np.asarray(similarity, dtype=np.float64).reshape(len(gt_ids), len(tracker_ids)))


def iou_tlwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (A, B) of top-left/size boxes."""
    a = a.reshape(-1, 4)
    b = b.reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y2 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def mot_frames(gt: np.ndarray, tracks: np.ndarray) -> SequenceFrames:
    """SequenceFrames from MOT rows (frame, id, x, y, w, h) of ground truth and tracker, IoU similarity."""
    out = SequenceFrames()
    frames = np.union1d(gt[:, 0], tracks[:, 0]) if tracks.size else np.unique(gt[:, 0])
    for f in frames:
        g = gt[gt[:, 0] == f]
        t = tracks[tracks[:, 0] == f] if tracks.size else np.zeros((0, 6))
        out.add(g[:, 1], t[:, 1], iou_tlwh(g[:, 2:6], t[:, 2:6]))
    return out


def evaluate(seq: SequenceFrames, match_threshold: float = 0.5) -> Dict[str, float]:
    """MOTA, IDF1, ID switches, fragmentations (motmetrics) and HOTA, DetA, AssA (TrackEval)."""
    acc = mm.MOTAccumulator(auto_id=True)
    for g, t, s in zip(seq.gt_ids, seq.tracker_ids, seq.similarity):
        dist = np.where(s >= match_threshold, 1.0 - s, np.nan)
        acc.update(g.tolist(), t.tolist(), dist)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches", "num_fragmentations",
                                                        "num_unique_objects", "precision", "recall"], name="seq")
    res = {k: float(summary[k].iloc[0]) for k in summary.columns}
    res.update(hota(seq))
    return res


def hota(seq: SequenceFrames) -> Dict[str, float]:
    """HOTA, DetA and AssA (averaged over TrackEval's localisation thresholds)."""
    gt_all = np.unique(np.concatenate(seq.gt_ids)) if seq.gt_ids else np.zeros(0, np.int64)
    tr_all = np.unique(np.concatenate(seq.tracker_ids)) if seq.tracker_ids else np.zeros(0, np.int64)
    data = {
        "num_timesteps": len(seq.gt_ids),
        "num_gt_ids": int(gt_all.size), "num_tracker_ids": int(tr_all.size),
        "num_gt_dets": int(sum(g.size for g in seq.gt_ids)),
        "num_tracker_dets": int(sum(t.size for t in seq.tracker_ids)),
        "gt_ids": [np.searchsorted(gt_all, g) for g in seq.gt_ids],
        "tracker_ids": [np.searchsorted(tr_all, t) for t in seq.tracker_ids],
        "similarity_scores": seq.similarity,
    }
    res = HOTA().eval_sequence(data)
    return {"hota": float(np.mean(res["HOTA"])), "deta": float(np.mean(res["DetA"])),
            "assa": float(np.mean(res["AssA"]))}


def load_mot_rows(path: str) -> np.ndarray:
    """Rows (N, 6) frame, id, x, y, w, h of a MOTChallenge file as written (no coordinate shift, CRLF ok)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                rows.append([float(v) for v in line.split(",")[:6]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)
