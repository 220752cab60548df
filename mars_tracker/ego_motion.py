"""Image motion caused by the robot: a prior from odometry/GNSS, or a robust estimate from matched tracks.

On a robot driving along a row every flower moves through the image at (nearly) the same speed, and that
speed changes when the robot speeds up or turns. The tracker adds the CHANGE of this ego velocity to every
track's velocity before predicting, and starts new tracks with it, so that tracks that have not been seen
for a while (or were just born) are predicted where the robot's motion takes them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from mars_core.geometry import CameraModel

_FINITE_DIFFERENCE_S = 1e-2


@dataclass(frozen=True)
class MotionPrior:
    """The robot's motion at a frame: velocity in base_link (m/s), yaw rate (rad/s), canopy plane height (m).

    ``plane_height`` is the height above base_link's ground plane at which the tracked objects (flower
    heads) are assumed to lie; their image motion is that of static points on this plane.
    """

    vx: float
    vy: float = 0.0
    yaw_rate: float = 0.0
    plane_height: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vx", "vy", "yaw_rate", "plane_height"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"MotionPrior.{name} must be a finite number, got {value!r}")


def expected_image_velocity(camera_model: CameraModel, prior: MotionPrior, pixels: np.ndarray) -> np.ndarray:
    """Image velocity (N, 2) in px/s of static points seen at pixels (N, 2) while the robot moves as in prior.

    Rows whose pixel ray misses the plane (above the horizon) are NaN.
    """
    uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if uv.shape[0] == 0:
        return np.zeros((0, 2))
    points = camera_model.ground_point_from_pixel(uv, prior.plane_height)      # (N, 3) in base_link
    # A world-static point seen from a body moving with v and yaw rate w moves as -(v + w x p) in base_link.
    velocity = np.stack([-(prior.vx - prior.yaw_rate * points[:, 1]),
                         -(prior.vy + prior.yaw_rate * points[:, 0]),
                         np.zeros(points.shape[0])], axis=1)
    moved = points + velocity * _FINITE_DIFFERENCE_S
    # Differentiate the full projection (distortion included) rather than a linearised pinhole.
    before, _ = camera_model.project_base(points)
    after, _ = camera_model.project_base(moved)
    return (after - before) / _FINITE_DIFFERENCE_S


def robust_common_velocity(velocities: np.ndarray, sizes: np.ndarray, min_tracks: int, inlier_fraction: float,
                           tolerance: float) -> Optional[np.ndarray]:
    """The velocity (2,) most tracks share, or None when too few tracks agree (e.g. people walking anywhere).

    ``velocities`` (N, 2) px/s of matched tracks, ``sizes`` (N,) px; a track agrees with the median when its
    velocity differs by less than ``tolerance`` box sizes per second.
    """
    n = velocities.shape[0]
    if n < min_tracks:
        return None
    median = np.sort(velocities, axis=0)[n // 2]   # upper median per axis (cheaper than np.median)
    inliers = np.linalg.norm(velocities - median, axis=1) <= tolerance * sizes
    if inliers.sum() < max(min_tracks, inlier_fraction * n):
        return None
    return velocities[inliers].mean(axis=0)
