"""The live tracks of one camera as columns (struct of arrays): appended, updated and compacted in bulk.

Columns live in buffers with spare capacity (doubling when full, halving when mostly empty), so starting
tracks writes into place instead of re-allocating every column, and memory follows the number of live tracks.
"""
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
_MIN_CAPACITY = 32


class TrackTable:
    """Columns of equal length, one row per live track. ``table[name]`` is a view of the live rows."""

    def __init__(self, feature_dim: int = 0) -> None:
        self._n = 0
        self._capacity = _MIN_CAPACITY
        self._buffers: Dict[str, np.ndarray] = {
            name: np.zeros((self._capacity,) + shape, dtype) for name, (shape, dtype) in _COLUMNS.items()}
        self._views: Dict[str, np.ndarray] = {}
        self.feature_dim = 0
        self.set_feature_dim(feature_dim)

    def set_feature_dim(self, feature_dim: int) -> None:
        """Give the table an embedding column of this width (only while empty or without one)."""
        if feature_dim == self.feature_dim and "embedding" in self._buffers:
            return
        if self.feature_dim and self._n:
            raise ValueError(f"track embeddings are {self.feature_dim}-D, cannot switch to {feature_dim}-D")
        self.feature_dim = int(feature_dim)
        self._buffers["embedding"] = np.zeros((self._capacity, self.feature_dim), np.float32)
        self._refresh_views()

    def _refresh_views(self) -> None:
        # The live rows of each column, sliced once per change of length: a frame reads columns ~50 times.
        self._views = {name: buf[:self._n] for name, buf in self._buffers.items()}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        return self._views[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self._views[name][...] = value

    def _resize(self, capacity: int) -> None:
        for name, buf in self._buffers.items():
            new = np.zeros((capacity,) + buf.shape[1:], buf.dtype)
            new[:self._n] = buf[:self._n]
            self._buffers[name] = new
        self._capacity = capacity
        self._refresh_views()

    def append(self, rows: Dict[str, np.ndarray], n: int) -> None:
        """Add n rows; columns not given are zero."""
        end = self._n + n
        if end > self._capacity:
            self._resize(max(2 * self._capacity, end))
        for name, buf in self._buffers.items():
            block = rows.get(name)
            buf[self._n:end] = 0 if block is None else np.asarray(block).reshape((n,) + buf.shape[1:])
        self._n = end
        self._refresh_views()

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where mask is False."""
        if mask.all():
            return
        m = int(mask.sum())
        for buf in self._buffers.values():
            buf[:m] = buf[:self._n][mask]
        self._n = m
        if self._capacity > _MIN_CAPACITY and 4 * m < self._capacity:
            self._resize(max(_MIN_CAPACITY, 2 * m))
        self._refresh_views()

    def clear(self) -> None:
        """Drop every row."""
        self.keep(np.zeros(self._n, bool))

    def embeddings_or_none(self, index: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """Embedding rows (float32 copy) or None without a feature column."""
        if not self.feature_dim:
            return None
        emb = self["embedding"]
        return (emb if index is None else emb[index]).astype(np.float32, copy=True)
