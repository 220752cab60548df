"""The live tracks of one camera as columns (struct of arrays): appended, updated and compacted in bulk."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from mars_tracker.box_kalman import STATE_DIM

# Column name -> (trailing shape, dtype). "embedding" is added when the feature width is known.
_COLUMNS: Dict[str, tuple] = {
    "track_id": ((), np.uint64),
    "x": ((STATE_DIM,), np.float64),              # Kalman state
    "p": ((STATE_DIM, STATE_DIM), np.float64),    # Kalman covariance
    "status": ((), np.uint8),
    "confirmed": ((), bool),
    "age": ((), np.uint32),
    "hits": ((), np.uint32),
    "frames_since_update": ((), np.uint32),
    "last_update_ns": ((), np.int64),
    "score": ((), np.float32),
    "score_sum": ((), np.float64),                # sum of matched detection scores
    "class_id": ((), np.int32),
    "detection_index": ((), np.int32),
    "ego_velocity": ((2,), np.float64),           # ego image velocity already folded into x[:, 4:6]
    "last_obs": ((4,), np.float64),               # last matched detection box (xywh), for OC-SORT
    "obs_x": ((STATE_DIM,), np.float64),          # posterior at the last observation, for OC-SORT
    "obs_p": ((STATE_DIM, STATE_DIM), np.float64),
    "line_side": ((), np.int8),                   # side of the counting line where the track started
    "line_counted": ((), bool),
    "has_embedding": ((), bool),
}


class TrackTable:
    """Columns of equal length, one row per live track."""

    def __init__(self, feature_dim: int = 0) -> None:
        self.columns: Dict[str, np.ndarray] = {}
        self.feature_dim = 0
        for name, (shape, dtype) in _COLUMNS.items():
            self.columns[name] = np.zeros((0,) + shape, dtype)
        self.set_feature_dim(feature_dim)

    def set_feature_dim(self, feature_dim: int) -> None:
        """Give the table an embedding column of this width (only while empty or without one)."""
        if feature_dim == self.feature_dim:
            return
        if self.feature_dim and len(self):
            raise ValueError(f"track embeddings are {self.feature_dim}-D, cannot switch to {feature_dim}-D")
        self.feature_dim = int(feature_dim)
        self.columns["embedding"] = np.zeros((len(self), self.feature_dim), np.float32)

    def __len__(self) -> int:
        return int(self.columns["track_id"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self.columns[name] = value

    def append(self, rows: Dict[str, np.ndarray], n: int) -> None:
        """Add n rows; columns not given are zero."""
        for name, column in self.columns.items():
            block = rows.get(name)
            if block is None:
                block = np.zeros((n,) + column.shape[1:], column.dtype)
            self.columns[name] = np.concatenate([column, np.asarray(block, column.dtype).reshape((n,) + column.shape[1:])])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where mask is False."""
        if mask.all():
            return
        for name in self.columns:
            self.columns[name] = self.columns[name][mask]

    def clear(self) -> None:
        """Drop every row."""
        self.keep(np.zeros(len(self), bool))

    def embeddings_or_none(self, index: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """Embedding rows (float32 copy) or None without a feature column."""
        if not self.feature_dim:
            return None
        emb = self.columns["embedding"]
        return (emb if index is None else emb[index]).astype(np.float32, copy=True)
