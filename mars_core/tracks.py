"""What the tracker reports about its tracks: status codes, a column-wise snapshot and the per-frame update."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Optional, Tuple

import numpy as np

from mars_core.columns import ColumnTable, column


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
class TrackSnapshot(ColumnTable):
    """Tracks of one camera at one frame as numpy columns (row i = one track).

    ``xywh`` is the filtered box (centre x, centre y, width, height; original-image pixels), ``velocity`` the
    filtered centre velocity in px/s, ``detection_index`` the row of the frame's Detections matched to the track
    in this frame (-1 when unmatched), ``embeddings`` the smoothed, L2-normalised appearance rows (None when
    the camera has no features; rows of tracks never seen with features are zero).
    """

    track_ids: np.ndarray = column(np.uint64)
    status: np.ndarray = column(np.uint8)               # TrackStatus values
    confirmed: np.ndarray = column(bool)
    age: np.ndarray = column(np.uint32)                 # frames since creation
    hits: np.ndarray = column(np.uint32)
    frames_since_update: np.ndarray = column(np.uint32)
    xywh: np.ndarray = column(np.float32, 4)
    velocity: np.ndarray = column(np.float32, 2)
    scores: np.ndarray = column(np.float32)
    class_ids: np.ndarray = column(np.int32)
    detection_index: np.ndarray = column(np.int32)
    embeddings: Optional[np.ndarray] = column(np.float32, None, optional=True)  # (N, D)

    @property
    def xyxy(self) -> np.ndarray:
        """Filtered boxes as corners (N, 4)."""
        half = self.xywh[:, 2:4] * 0.5
        return np.concatenate([self.xywh[:, 0:2] - half, self.xywh[:, 0:2] + half], axis=1)

    # A narrower signature than ColumnTable.empty(width, **meta) on purpose: this table's one knob, named.
    @classmethod
    def empty(cls, feature_dim: int = 0) -> "TrackSnapshot":  # type: ignore[override]
        """No tracks (with a (0, feature_dim) embedding block when feature_dim > 0)."""
        return super().empty(feature_dim)


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
