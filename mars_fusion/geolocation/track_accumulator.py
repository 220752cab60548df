"""Collects the matched observations of every open track until it ends (REMOVED, listed as ended, or idle)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from mars_core.observations import TrackFrame
from mars_core.tracks import STATUS_REMOVED


@dataclass
class FinishedTrack:
    """All matched observations of one ended track: stamps (k,), box centres (k, 2) px, box sizes (k, 2) px."""

    camera: str
    track_id: int
    stamps_ns: np.ndarray
    centres_px: np.ndarray
    sizes_px: np.ndarray
    scores: np.ndarray
    confirmed: bool
    embedding: Optional[np.ndarray]
    embedding_model_id: str


class _OpenTrack:
    __slots__ = ("stamps", "rows", "confirmed", "embedding", "model_id", "last_ns")

    def __init__(self) -> None:
        self.stamps: List[int] = []
        self.rows: List[Tuple[float, float, float, float, float]] = []
        self.confirmed = False
        self.embedding: Optional[np.ndarray] = None
        self.model_id = ""
        self.last_ns = 0


class TrackAccumulator:
    """Open tracks keyed by (camera, track id); ends them on request, on REMOVED status or after a timeout."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_ns = int(timeout_s * 1e9)
        self._open: Dict[Tuple[str, int], _OpenTrack] = {}
        self.counters: Counter = Counter()
        # No open track was updated before this stamp: until now passes it by the timeout nothing can expire,
        # so expire() (called for every message) skips its scan of all open tracks.
        self._oldest_update_ns: Optional[int] = None

    def __len__(self) -> int:
        return len(self._open)

    def add(self, frame: TrackFrame, ended_track_ids: Optional[np.ndarray] = None) -> List[FinishedTrack]:
        """Record a frame's matched observations; returns the tracks that ended with it."""
        cam = frame.camera_name
        stamp = frame.stamp_ns
        # Python lists: a frame has a handful of tracks, and numpy scalar indexing costs more than the work.
        observed = frame.observed.tolist()
        confirmed = frame.confirmed.tolist()
        boxes = frame.boxes_xywh.tolist()
        scores = frame.scores.tolist()
        for i, tid in enumerate(frame.track_ids.tolist()):
            if not observed[i]:
                track = self._open.get((cam, tid))
                if track is not None:
                    track.confirmed = track.confirmed or confirmed[i]
                continue
            key = (cam, tid)
            track = self._open.get(key)
            if track is None:
                track = self._open[key] = _OpenTrack()
            if track.stamps and stamp <= track.stamps[-1]:
                self.counters["duplicate_observations"] += 1
                continue
            x, y, w, h = boxes[i]
            track.stamps.append(stamp)
            track.rows.append((x, y, w, h, scores[i]))
            track.confirmed = track.confirmed or confirmed[i]
            track.last_ns = stamp
            if self._oldest_update_ns is None or stamp < self._oldest_update_ns:
                self._oldest_update_ns = stamp
            if frame.embeddings is not None:
                track.embedding = frame.embeddings[i].copy()
                track.model_id = frame.embedding_model_id
        ended = set(int(v) for v in frame.track_ids[frame.status == STATUS_REMOVED])
        if ended_track_ids is not None:
            ended.update(int(v) for v in np.asarray(ended_track_ids).reshape(-1))
        out = [t for t in (self._finish((cam, tid)) for tid in sorted(ended)) if t is not None]
        return out

    def expire(self, now_ns: int) -> List[FinishedTrack]:
        """End tracks not updated for longer than the timeout."""
        if self._oldest_update_ns is None or now_ns - self._oldest_update_ns <= self.timeout_ns:
            return []
        stale = [k for k, t in self._open.items() if now_ns - t.last_ns > self.timeout_ns]
        self._oldest_update_ns = min((t.last_ns for t in self._open.values() if now_ns - t.last_ns <= self.timeout_ns),
                                     default=None)
        self.counters["timed_out_tracks"] += len(stale)
        return [t for t in (self._finish(k) for k in stale) if t is not None]

    def finish_all(self) -> List[FinishedTrack]:
        """End every open track (shutdown, end of bag, new session)."""
        return [t for t in (self._finish(k) for k in list(self._open)) if t is not None]

    def _finish(self, key: Tuple[str, int]) -> Optional[FinishedTrack]:
        track = self._open.pop(key, None)
        if track is None:
            return None
        if not track.confirmed:
            self.counters["unconfirmed_tracks_dropped"] += 1
            return None
        rows = np.asarray(track.rows, dtype=np.float64).reshape(-1, 5)
        return FinishedTrack(key[0], key[1], np.asarray(track.stamps, dtype=np.int64), rows[:, :2].copy(),
                             rows[:, 2:4].copy(), rows[:, 4].copy(), True, track.embedding, track.model_id)
