"""One colour per camera (by rig index) for every view of the data: live markers, the map's markers, plots."""
from __future__ import annotations

from typing import Tuple

CAMERA_COLOURS: Tuple[Tuple[float, float, float], ...] = (
    (0.90, 0.30, 0.24), (0.18, 0.55, 0.87), (0.30, 0.75, 0.35), (0.95, 0.75, 0.15), (0.60, 0.35, 0.80),
    (0.10, 0.75, 0.75))


def camera_colour(index: int) -> Tuple[float, float, float]:
    """RGB (0..1) of the camera with this rig index (the palette repeats for large rigs)."""
    return CAMERA_COLOURS[index % len(CAMERA_COLOURS)]
