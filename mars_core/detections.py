"""The detections of one camera frame, as numpy columns (one row per box)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from mars_core.columns import ColumnTable, column


@dataclass(frozen=True)
class Detections(ColumnTable):
    """Boxes, scores, classes and optional appearance features of one frame, row-aligned.

    Boxes are ``xyxy`` in pixels of the ORIGINAL image (x right, y down). Features, when present, are
    float32 rows (normally L2-normalised) produced by the model named ``feature_model_id``.
    """

    xyxy: np.ndarray = column(np.float32, 4)
    scores: np.ndarray = column(np.float32)
    class_ids: np.ndarray = column(np.int32)
    features: Optional[np.ndarray] = column(np.float32, None, optional=True)
    feature_model_id: str = ""

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = xyxy.shape[0]
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        class_ids = np.asarray(self.class_ids, dtype=np.int32).reshape(-1)
        if scores.shape[0] != n or class_ids.shape[0] != n:
            raise ValueError(
                f"Detections columns disagree: {n} boxes, {scores.shape[0]} scores, {class_ids.shape[0]} class ids")
        features = self.features
        if features is not None:
            features = np.asarray(features, dtype=np.float32)
            if features.ndim != 2 or features.shape[0] != n:
                raise ValueError(f"Detections features must be (N={n}, D), got shape {features.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "features", features)

    # A narrower signature than ColumnTable.empty(width, **meta) on purpose: this table's knobs, named.
    @classmethod
    def empty(cls, feature_dim: int = 0, feature_model_id: str = "") -> "Detections":  # type: ignore[override]
        """No detections (with an empty feature block of the given width when feature_dim > 0)."""
        return super().empty(feature_dim, feature_model_id=feature_model_id)

    @property
    def feature_dim(self) -> int:
        """Values per feature row (0 without features)."""
        return 0 if self.features is None else int(self.features.shape[1])

    @property
    def xywh(self) -> np.ndarray:
        """Boxes as centre x, centre y, width, height (N, 4)."""
        out = np.empty_like(self.xyxy)
        out[:, 0:2] = (self.xyxy[:, 0:2] + self.xyxy[:, 2:4]) * 0.5
        out[:, 2:4] = self.xyxy[:, 2:4] - self.xyxy[:, 0:2]
        return out

    @staticmethod
    def xyxy_from_xywh(xywh: np.ndarray) -> np.ndarray:
        """Centre/size boxes (N, 4) to corner boxes (N, 4)."""
        xywh = np.asarray(xywh, dtype=np.float32).reshape(-1, 4)
        half = xywh[:, 2:4] * 0.5
        return np.concatenate([xywh[:, 0:2] - half, xywh[:, 0:2] + half], axis=1)


@dataclass(frozen=True)
class DetectionFrame:
    """One camera frame's detections with the metadata that travels with them."""

    camera_name: str
    stamp_ns: int              # capture (exposure) time, nanoseconds
    frame_number: int          # consecutive per camera; gaps are dropped frames
    image_width: int
    image_height: int
    detections: Detections = field(default_factory=Detections.empty)

    @property
    def frame_id(self) -> str:
        """The camera's optical frame (REP-103/105 naming)."""
        return optical_frame_id(self.camera_name)


def optical_frame_id(camera_name: str) -> str:
    """The TF frame of a camera's optical axes: z forward, x right, y down."""
    return f"{camera_name}_optical_frame"
