"""GNSS-free comparison of two tracks of different cameras: closest approach of their simultaneous rays.

Rays of two cameras at (nearly) the same stamp are placed in map with (nearly) the same robot pose, so any
GNSS error is common to both and cancels: their distance measures only whether they see one point.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def ray_distances(o1: np.ndarray, d1: np.ndarray, o2: np.ndarray, d2: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Closest-approach distances (N,) and midpoints (N, 3) of ray pairs (unit directions, rows paired)."""
    w = o1 - o2
    b = np.sum(d1 * d2, axis=1)
    d = np.sum(d1 * w, axis=1)
    e = np.sum(d2 * w, axis=1)
    den = 1.0 - b * b
    parallel = den < 1e-9
    safe = np.where(parallel, 1.0, den)
    s = np.where(parallel, 0.0, (b * e - d) / safe)
    t = np.where(parallel, e, (e - b * d) / safe)
    p1 = o1 + s[:, None] * d1
    p2 = o2 + t[:, None] * d2
    return np.linalg.norm(p1 - p2, axis=1), 0.5 * (p1 + p2)


def simultaneous_pairs(stamps_a: np.ndarray, stamps_b: np.ndarray, max_dt_ns: int) -> Tuple[np.ndarray, np.ndarray]:
    """Index pairs (ia, ib) pairing each stamp of a with the nearest stamp of b within max_dt (sorted stamps)."""
    if stamps_a.shape[0] == 0 or stamps_b.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    idx = np.searchsorted(stamps_b, stamps_a)
    lo = np.clip(idx - 1, 0, stamps_b.shape[0] - 1)
    hi = np.clip(idx, 0, stamps_b.shape[0] - 1)
    pick = np.where(np.abs(stamps_b[lo] - stamps_a) <= np.abs(stamps_b[hi] - stamps_a), lo, hi)
    ok = np.abs(stamps_b[pick] - stamps_a) <= max_dt_ns
    return np.flatnonzero(ok), pick[ok]
