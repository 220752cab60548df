"""ROS-free inputs of the fusion: the tracks of one camera frame, GNSS fixes and heading samples.

The ROS node (and the offline bag counter) map FlowerTrackArray, NavSatFix and Imu messages into these.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from mars_core.columns import ColumnTable, column
from mars_core.tracks import STATUS_NEW, STATUS_TRACKED

# sensor_msgs/NavSatStatus and NavSatFix covariance types.
FIX_STATUS_NO_FIX = -1
COVARIANCE_TYPE_UNKNOWN = 0


@dataclass(frozen=True)
class TrackFrame(ColumnTable):
    """The tracks of one camera after one frame, row-aligned numpy columns.

    ``boxes_xywh`` are centre x, centre y, width, height in original-image pixels. Only rows whose status is
    NEW or TRACKED carry a matched detection this frame; LOST rows are predictions and are not observations.
    """

    camera_name: str
    stamp_ns: int
    track_ids: np.ndarray = column(np.uint64)
    boxes_xywh: np.ndarray = column(np.float64, 4)
    scores: np.ndarray = column(np.float32)
    confirmed: np.ndarray = column(bool)
    status: np.ndarray = column(np.uint8)
    embeddings: Optional[np.ndarray] = column(np.float32, None, optional=True)
    embedding_model_id: str = ""

    def __post_init__(self) -> None:
        ids = np.asarray(self.track_ids, dtype=np.uint64).reshape(-1)
        n = ids.shape[0]
        boxes = np.asarray(self.boxes_xywh, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        confirmed = np.asarray(self.confirmed, dtype=bool).reshape(-1)
        status = np.asarray(self.status, dtype=np.uint8).reshape(-1)
        if not (boxes.shape[0] == scores.shape[0] == confirmed.shape[0] == status.shape[0] == n):
            raise ValueError(f"TrackFrame of {self.camera_name!r}: columns disagree: {n} ids, {boxes.shape[0]} boxes, "
                             f"{scores.shape[0]} scores, {confirmed.shape[0]} confirmed, {status.shape[0]} status")
        emb = self.embeddings
        if emb is not None:
            emb = np.asarray(emb, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != n:
                raise ValueError(f"TrackFrame of {self.camera_name!r}: embeddings must be (N={n}, D), got {emb.shape}")
            if emb.shape[1] == 0:
                emb = None
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))
        object.__setattr__(self, "track_ids", ids)
        object.__setattr__(self, "boxes_xywh", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "confirmed", confirmed)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "embeddings", emb)

    @property
    def observed(self) -> np.ndarray:
        """Rows matched to a detection in this frame (NEW or TRACKED) with a finite box."""
        # Two column tests rather than np.all(axis=1): this runs for every camera frame, on a handful of rows.
        return (((self.status == STATUS_NEW) | (self.status == STATUS_TRACKED))
                & np.isfinite(self.boxes_xywh[:, 0]) & np.isfinite(self.boxes_xywh[:, 1]))


@dataclass(frozen=True)
class GnssFix:
    """One sensor_msgs/NavSatFix: WGS-84 degrees, ellipsoidal altitude, status, covariance (row-major ENU m^2)."""

    stamp_ns: int
    latitude: float
    longitude: float
    altitude: float
    status: int = 0
    position_covariance: Tuple[float, ...] = (0.0,) * 9
    covariance_type: int = COVARIANCE_TYPE_UNKNOWN


@dataclass(frozen=True)
class HeadingSample:
    """A heading measurement (radians, convention as configured) with its variance (rad^2, 0 = unknown)."""

    stamp_ns: int
    heading: float
    variance: float = 0.0
