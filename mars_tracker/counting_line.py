"""Counting-line mode: a confirmed track counts once, when its centre has crossed a line in the image."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def line_side(line: Sequence[float], points: np.ndarray) -> np.ndarray:
    """Side (N,) int8 of points (N, 2) relative to the directed line x1, y1, x2, y2: +1 left, -1 right, 0 on it."""
    x1, y1, x2, y2 = (float(v) for v in line)
    cross = (x2 - x1) * (points[:, 1] - y1) - (y2 - y1) * (points[:, 0] - x1)
    return np.sign(cross).astype(np.int8)


def crossed(start_side: np.ndarray, current_side: np.ndarray) -> np.ndarray:
    """True (N,) where a track that started on start_side is now strictly on the other side.

    A track born exactly on the line adopts the first side it leaves to (the caller updates start_side),
    so it counts only once it reaches the opposite side.
    """
    return (start_side != 0) & (current_side != 0) & (start_side != current_side)
