"""Feeds a mars_sim simulation into FlowerMapper (shared by the fusion benchmarks).

Two track sources: ``truth`` (perfect association: one track per flower and camera, split where the
flower is unseen for a while) and ``tracker`` (mars_tracker.CameraTracker on the simulated detections).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from mars_fusion import FlowerMapper, FusionConfig, GnssFix, HeadingSample, TrackFrame
from mars_core.tracks import STATUS_TRACKED


def sim_messages(sim: Any, track_source: str = "truth", gap_frames: int = 10
                 ) -> Tuple[List[Tuple[int, int, str, Any]], Dict[Tuple[str, int], int]]:
    """All inputs as (stamp_ns, kind order, kind, payload) sorted by stamp, and the true flower id of every
    (camera, track id) for scoring (-1 = false positive)."""
    msgs: List[Tuple[int, int, str, Any]] = []
    g = sim.gnss
    for i in range(g.stamp_ns.shape[0]):
        msgs.append((int(g.stamp_ns[i]), 0, "fix", GnssFix(int(g.stamp_ns[i]), float(g.latitude[i]),
                                                           float(g.longitude[i]), float(g.altitude[i]),
                                                           int(g.status[i]), tuple(g.covariance[i]),
                                                           int(g.covariance_type[i]))))
    if sim.heading is not None:
        h = sim.heading
        for i in range(h.stamp_ns.shape[0]):
            msgs.append((int(h.stamp_ns[i]), 1, "heading", HeadingSample(int(h.stamp_ns[i]), float(h.yaw[i]))))
    truth_of_track: Dict[Tuple[str, int], int] = {}
    for name, stream in sim.cameras.items():
        if track_source == "truth":
            frames = truth_track_frames(stream, gap_frames)
            for frame, _ in frames:
                for tid in frame.track_ids.tolist():
                    truth_of_track[(name, int(tid))] = int(tid) // 1000
        else:
            frames, truth = tracker_frames(stream, sim.rig)
            truth_of_track.update(truth)
        for frame, ended in frames:
            msgs.append((frame.stamp_ns, 2, "tracks", (frame, ended)))
    msgs.sort(key=lambda m: (m[0], m[1]))
    return msgs, truth_of_track


def truth_track_frames(stream: Any, gap_frames: int) -> List[Tuple[TrackFrame, np.ndarray]]:
    """TrackFrames whose track ids come from the true flower ids (a new id after a gap of gap_frames)."""
    out = []
    last_seen: Dict[int, int] = {}
    segment: Dict[int, int] = {}
    for k, (frame, ids) in enumerate(zip(stream.frames, stream.truth_ids)):
        keep = ids >= 0
        fid = ids[keep].astype(np.int64)
        track_ids = np.empty(fid.shape[0], np.uint64)
        for j, f in enumerate(fid.tolist()):
            if f in last_seen and k - last_seen[f] > gap_frames:
                segment[f] = segment.get(f, 0) + 1
            last_seen[f] = k
            track_ids[j] = np.uint64(f * 1000 + segment.get(f, 0))
        ended = [np.uint64(f * 1000 + segment.get(f, 0)) for f, s in list(last_seen.items()) if k - s == gap_frames + 1]
        xyxy = frame.detections.xyxy[keep].astype(np.float64)
        xywh = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                                xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]])
        feats = frame.detections.features[keep] if frame.detections.features is not None else None
        n = fid.shape[0]
        out.append((TrackFrame(stream.name, frame.stamp_ns, track_ids, xywh, frame.detections.scores[keep],
                               np.ones(n, bool), np.full(n, STATUS_TRACKED, np.uint8), feats,
                               frame.detections.feature_model_id), np.asarray(ended, np.uint64)))
    return out


def tracker_frames(stream: Any, rig: Any) -> Tuple[List[Tuple[TrackFrame, np.ndarray]], Dict[Tuple[str, int], int]]:
    """TrackFrames from mars_tracker's CameraTracker on the simulated detections, and the majority true flower
    id of every track (from the simulator's per-detection truth, for scoring only)."""
    from mars_tracker import CameraTracker
    tracker = CameraTracker(camera_model=rig.camera(stream.name).model)
    out = []
    votes: Dict[Tuple[int, int], int] = {}
    for frame, ids in zip(stream.frames, stream.truth_ids):
        upd = tracker.update(frame)
        t = upd.tracks
        out.append((TrackFrame(stream.name, frame.stamp_ns, t.track_ids, t.xywh.astype(np.float64), t.scores,
                               t.confirmed, t.status, t.embeddings, upd.feature_model_id),
                    upd.removed.track_ids.copy()))
        matched = t.detection_index >= 0
        for tid, di in zip(t.track_ids[matched].tolist(), t.detection_index[matched].tolist()):
            key = (int(tid), int(ids[di]))
            votes[key] = votes.get(key, 0) + 1
    best: Dict[Tuple[str, int], Tuple[int, int]] = {}
    for (tid, fid), n in votes.items():
        if (stream.name, tid) not in best or n > best[(stream.name, tid)][1]:
            best[(stream.name, tid)] = (fid, n)
    return out, {k: v[0] for k, v in best.items()}


def run_mapper(sim: Any, config: FusionConfig, track_source: str = "truth"
               ) -> Tuple[FlowerMapper, Dict[Tuple[str, int], int], float]:
    """Feed every message in stamp order and finalize; returns the mapper (associations recorded), the true
    flower of every track, and the fusion wall time (s)."""
    import time
    msgs, truth = sim_messages(sim, track_source)
    mapper = FlowerMapper(config, sim.rig, record_associations=True)
    t0 = time.perf_counter()
    for _, _, _, payload in msgs:
        mapper.add(payload)
    mapper.finalize()
    return mapper, truth, time.perf_counter() - t0
