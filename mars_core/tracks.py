"""What the tracker reports about its tracks: status codes, a column-wise snapshot and the per-frame update."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Optional, Tuple

import numpy as np


class TrackStatus(IntEnum):
    """Matches the STATUS_* constants of msg/FlowerTrack.msg."""

    NEW = 0        # created, not yet confirmed (fewer than min_hits)
    TRACKED = 1    # confirmed and matched in this frame
    LOST = 2       # confirmed, not matched in this frame, still predicted
    REMOVED = 3    # ended; reported once, then forgotten


# TrackStatus as plain ints, for status columns in per-frame code: numpy converts an IntEnum member through
# Python's enum machinery on every comparison.
STATUS_NEW, STATUS_TRACKED, STATUS_LOST, STATUS_REMOVED = (int(s) for s in (
    TrackStatus.NEW, TrackStatus.TRACKED, TrackStatus.LOST, TrackStatus.REMOVED))


@dataclass(frozen=True)
class TrackSnapshot:
    """Tracks of one camera at one frame as numpy columns (row i = one track).

    ``xywh`` is the filtered box (centre x, centre y, width, height; original-image pixels), ``velocity`` the
    filtered centre velocity in px/s, ``detection_index`` the row of the frame's Detections matched to the track
    in this frame (-1 when unmatched), ``embeddings`` the smoothed, L2-normalised appearance rows (None when
    the camera has no features; rows of tracks never seen with features are zero).
    """

    track_ids: np.ndarray            # (N,) uint64
    status: np.ndarray               # (N,) uint8, TrackStatus values
    confirmed: np.ndarray            # (N,) bool
    age: np.ndarray                  # (N,) uint32, frames since creation
    hits: np.ndarray                 # (N,) uint32
    frames_since_update: np.ndarray  # (N,) uint32
    xywh: np.ndarray                 # (N, 4) float32
    velocity: np.ndarray             # (N, 2) float32
    scores: np.ndarray               # (N,) float32
    class_ids: np.ndarray            # (N,) int32
    detection_index: np.ndarray      # (N,) int32
    embeddings: Optional[np.ndarray] = None  # (N, D) float32

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])

    @property
    def xyxy(self) -> np.ndarray:
        """Filtered boxes as corners (N, 4)."""
        half = self.xywh[:, 2:4] * 0.5
        return np.concatenate([self.xywh[:, 0:2] - half, self.xywh[:, 0:2] + half], axis=1)

    def select(self, index: np.ndarray) -> "TrackSnapshot":
        """The rows picked by a boolean mask or an index array."""
        return TrackSnapshot(self.track_ids[index], self.status[index], self.confirmed[index], self.age[index],
                             self.hits[index], self.frames_since_update[index], self.xywh[index],
                             self.velocity[index], self.scores[index], self.class_ids[index],
                             self.detection_index[index],
                             None if self.embeddings is None else self.embeddings[index])

    @classmethod
    def empty(cls, feature_dim: int = 0) -> "TrackSnapshot":
        """No tracks."""
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(0, bool), np.zeros(0, np.uint32),
                   np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros((0, 4), np.float32),
                   np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32),
                   np.zeros(0, np.int32), np.zeros((0, feature_dim), np.float32) if feature_dim > 0 else None)


@dataclass(frozen=True)
class TrackUpdate:
    """The result of one frame: live tracks, tracks removed in this frame (reported once) and the counts."""

    camera_name: str
    stamp_ns: int
    frame_number: int
    image_width: int
    image_height: int
    tracks: TrackSnapshot           # NEW, TRACKED and LOST tracks after this frame
    removed: TrackSnapshot          # tracks that ended in this frame (status REMOVED)
    confirmed_count: int            # tracks confirmed since the tracker started (one per flower)
    line_count: int                 # confirmed tracks that crossed the counting line (0 without a line)
    count: int                      # the count to publish: line_count with a counting line, else confirmed_count
    feature_model_id: str = ""
    warnings: Tuple[str, ...] = field(default_factory=tuple)
    was_reset: bool = False         # the camera's tracks were dropped before this frame (time went backwards)
