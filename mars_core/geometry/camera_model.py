"""Pinhole + plumb-bob distortion camera with its mounting on the robot, vectorised.

Frames: ``base_link`` (REP-103: x forward, y left, z up) -> ``<cam>_link`` (same axes, mounted by
``CameraExtrinsics``) -> ``<cam>_optical_frame`` (z forward, x right, y down).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Tuple, cast

import numpy as np

from mars_core.geometry.rotations import rotation_from_rpy

_Triple = Tuple[float, float, float]  # what CameraExtrinsics holds; it checks the length of what it is given

# Columns are the optical axes (x right, y down, z forward) written in <cam>_link axes.
R_LINK_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _undistort_points(uv: np.ndarray, matrix: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    """Normalised undistorted coordinates (N, 2) of pixels, iterated to convergence.

    OpenCV 4.x (Humble/Jazzy system builds) spells this undistortPointsIter; 5.x moved the criteria into
    undistortPoints.
    """
    import cv2  # only distorted cameras need OpenCV: the tracker and fusion cores load without it

    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)
    src = uv.reshape(-1, 1, 2)
    if hasattr(cv2, "undistortPointsIter"):
        out = cv2.undistortPointsIter(src, matrix, distortion, None, None, criteria)
    else:
        out = cv2.undistortPoints(src, matrix, distortion, criteria=criteria)
    return out.reshape(-1, 2)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Image size, focal lengths, principal point (pixels) and plumb-bob distortion k1, k2, p1, p2, k3."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: Tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera image size must be positive, got {self.width}x{self.height}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"camera focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        distortion = tuple(float(v) for v in self.distortion)
        if len(distortion) not in (4, 5, 8):
            raise ValueError(f"distortion needs 4, 5 or 8 coefficients (plumb_bob/rational), got {len(distortion)}")
        object.__setattr__(self, "distortion", distortion)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def has_distortion(self) -> bool:
        """True when any distortion coefficient is non-zero."""
        return any(v != 0.0 for v in self.distortion)

    def project(self, points_optical: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) of points (N, 3) in the optical frame; points behind the camera give NaN."""
        p = np.asarray(points_optical, dtype=np.float64).reshape(-1, 3)
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = p[:, 0] / z
            y = p[:, 1] / z
        if self.has_distortion:
            x, y = self._distort(x, y)
        uv = np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=1)
        uv[z <= 0] = np.nan
        return uv

    def _distort(self, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        d = self.distortion + (0.0,) * (8 - len(self.distortion))
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        r2 = x * x + y * y
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Unit-z rays (N, 3) in the optical frame through pixels (N, 2), distortion removed."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        if uv.shape[0] == 0:
            return np.zeros((0, 3))
        if self.has_distortion:
            xy = _undistort_points(uv, self.matrix, np.asarray(self.distortion))
        else:
            xy = np.stack([(uv[:, 0] - self.cx) / self.fx, (uv[:, 1] - self.cy) / self.fy], axis=1)
        return np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)

    def contains(self, pixels: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Boolean mask of pixels inside the image (shrunk by margin)."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        return ((uv[:, 0] >= margin) & (uv[:, 0] < self.width - margin)
                & (uv[:, 1] >= margin) & (uv[:, 1] < self.height - margin))


@dataclass(frozen=True)
class CameraExtrinsics:
    """Pose of ``<cam>_link`` in ``base_link``: translation (m) and roll, pitch, yaw (rad)."""

    xyz: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: Tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.xyz) != 3 or len(self.rpy) != 3:
            raise ValueError(f"extrinsics need xyz and rpy of 3 values each, got {self.xyz!r}, {self.rpy!r}")
        object.__setattr__(self, "xyz", tuple(float(v) for v in self.xyz))
        object.__setattr__(self, "rpy", tuple(float(v) for v in self.rpy))

    @property
    def rotation_base_from_link(self) -> np.ndarray:
        """Rotation of <cam>_link axes into base_link."""
        return rotation_from_rpy(self.rpy)

    @property
    def rotation_base_from_optical(self) -> np.ndarray:
        """Rotation of optical-frame axes into base_link."""
        return self.rotation_base_from_link @ R_LINK_FROM_OPTICAL


@dataclass(frozen=True)
class CameraModel:
    """A named camera: intrinsics plus mounting; maps between base_link points and pixels."""

    name: str
    intrinsics: CameraIntrinsics
    extrinsics: CameraExtrinsics = field(default_factory=CameraExtrinsics)

    @property
    def optical_frame(self) -> str:
        """TF frame id of the optical axes."""
        return f"{self.name}_optical_frame"

    @property
    def link_frame(self) -> str:
        """TF frame id of the camera body (REP-103 axes)."""
        return f"{self.name}_link"

    def base_to_optical(self, points_base: np.ndarray) -> np.ndarray:
        """Points (N, 3) from base_link into the optical frame."""
        p = np.asarray(points_base, dtype=np.float64).reshape(-1, 3) - np.asarray(self.extrinsics.xyz)
        return p @ self.extrinsics.rotation_base_from_optical  # R^T p, row-wise

    def optical_to_base(self, points_optical: np.ndarray) -> np.ndarray:
        """Points (N, 3) from the optical frame into base_link."""
        p = np.asarray(points_optical, dtype=np.float64).reshape(-1, 3)
        return p @ self.extrinsics.rotation_base_from_optical.T + np.asarray(self.extrinsics.xyz)

    def project_base(self, points_base: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Pixels (N, 2) and depths (N,) along the optical axis of base_link points."""
        p = self.base_to_optical(points_base)
        return self.intrinsics.project(p), p[:, 2]

    def rays_base(self, pixels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Ray origin (3,) and unit directions (N, 3) in base_link through pixels (N, 2)."""
        rays = self.intrinsics.rays(pixels)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        return np.asarray(self.extrinsics.xyz), rays @ self.extrinsics.rotation_base_from_optical.T

    def ground_point_from_pixel(self, pixels: np.ndarray, plane_height: float) -> np.ndarray:
        """base_link points (N, 3) where pixel rays meet the horizontal plane z = plane_height (NaN if never)."""
        origin, directions = self.rays_base(pixels)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (plane_height - origin[2]) / directions[:, 2]
        t = np.where(t > 0, t, np.nan)
        return origin + directions * t[:, None]


def camera_model_from_lists(name: str, size: Sequence[int], k: Sequence[float], distortion: Sequence[float],
                            xyz: Sequence[float], rpy: Sequence[float]) -> CameraModel:
    """Build a CameraModel from plain lists (image size, fx fy cx cy, distortion, xyz, rpy)."""
    fx, fy, cx, cy = (float(v) for v in k)
    return CameraModel(name, CameraIntrinsics(int(size[0]), int(size[1]), fx, fy, cx, cy, tuple(distortion)),
                       CameraExtrinsics(cast(_Triple, tuple(xyz)), cast(_Triple, tuple(rpy))))  # length: __post_init__
