"""The robot's drive: straddling each row along its centre line, headland turns, optional second pass.

The path is a densely sampled polyline (x, y) in map with arc length; the robot moves at constant speed,
so pose(t) is an interpolation. Yaw (REP-103, 0 = +x, counter-clockwise) follows the path tangent.
Segments are labelled with the row and pass (-1 during turns) for the ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from mars_sim.config import DriveConfig, FieldConfig
from mars_sim.world import row_axes, row_line

_STEP_M = 0.01


@dataclass(frozen=True)
class RobotPoses:
    """Robot (base_link) poses in map at given times."""

    stamp_ns: np.ndarray   # (K,) int64
    x: np.ndarray          # (K,) float64
    y: np.ndarray
    yaw: np.ndarray        # (K,) float64, unwrapped
    speed_mps: np.ndarray  # (K,)
    yaw_rate: np.ndarray   # (K,) rad/s


@dataclass(frozen=True)
class Trajectory:
    """The whole drive as a time-parameterised path."""

    t_s: np.ndarray        # (S,) seconds from start_time_ns
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray        # unwrapped
    row: np.ndarray        # (S,) int32 row being driven, -1 in turns
    pass_index: np.ndarray  # (S,) int32
    start_time_ns: int

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last pose."""
        return float(self.t_s[-1])

    def poses(self, stamp_ns: np.ndarray) -> RobotPoses:
        """Interpolated poses at absolute stamps (clamped to the drive)."""
        stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
        t = (stamp_ns - self.start_time_ns) * 1e-9
        x = np.interp(t, self.t_s, self.x)
        y = np.interp(t, self.t_s, self.y)
        yaw = np.interp(t, self.t_s, self.yaw)
        dt = np.diff(self.t_s)
        vx, vy = np.diff(self.x) / dt, np.diff(self.y) / dt
        wz = np.diff(self.yaw) / dt
        idx = np.clip(np.searchsorted(self.t_s, t, side="right") - 1, 0, dt.size - 1)
        return RobotPoses(stamp_ns, x, y, yaw, np.hypot(vx, vy)[idx], wz[idx])


def _hermite(p0: np.ndarray, t0: np.ndarray, p1: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Points of a cubic Hermite curve, sampled about every _STEP_M."""
    chord = np.linalg.norm(p1 - p0) + np.linalg.norm(t0) * 0.5 + np.linalg.norm(t1) * 0.5
    n = max(8, int(chord / _STEP_M))
    s = np.linspace(0.0, 1.0, n)[:, None]
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * p0 + h10 * t0 + h01 * p1 + h11 * t1


def _line(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    n = max(2, int(np.linalg.norm(p1 - p0) / _STEP_M) + 1)
    return p0[None, :] + np.linspace(0.0, 1.0, n)[:, None] * (p1 - p0)[None, :]


def _turn(a: np.ndarray, d_out: np.ndarray, b: np.ndarray, d_in: np.ndarray, radius: float) -> np.ndarray:
    """Headland turn from a (heading d_out) to b (heading d_in) through a point beyond both."""
    mid = 0.5 * (a + b) + d_out * radius
    gap = b - a
    side = gap / np.linalg.norm(gap) if np.linalg.norm(gap) > 1e-6 else np.array([-d_out[1], d_out[0]])
    k = 1.5 * radius
    first = _hermite(a, d_out * k, mid, side * k)
    second = _hermite(mid, side * k, b, d_in * k)
    return np.concatenate([first, second[1:]])


def row_schedule(field: FieldConfig, drive: DriveConfig) -> List[Tuple[int, int, int]]:
    """(row, direction +1/-1, pass) in driving order: serpentine, then the same rows reversed."""
    rows = list(drive.rows_to_drive) if drive.rows_to_drive is not None else list(range(field.rows))
    first = [(r, 1 if i % 2 == 0 else -1, 0) for i, r in enumerate(rows)]
    if drive.passes == 1:
        return first
    second = [(r, -d, 1) for (r, d, _) in reversed(first)]
    return first + second


def build_trajectory(field: FieldConfig, drive: DriveConfig, rng: np.random.Generator) -> Trajectory:
    """The drive over the field as a sampled path."""
    along, across = row_axes(field)
    pieces: List[np.ndarray] = []
    rows: List[np.ndarray] = []
    passes: List[np.ndarray] = []
    prev_end: Optional[np.ndarray] = None
    prev_dir: Optional[np.ndarray] = None  # set together with prev_end
    for row, direction, pass_idx in row_schedule(field, drive):
        start, end = row_line(field, row)
        offset = across * (drive.second_pass_lateral_offset_m if pass_idx == 1 else 0.0)
        if direction < 0:
            start, end = end, start
        d = along * direction
        a = start + offset - d * drive.headland_m
        b = end + offset + d * drive.headland_m
        if prev_end is not None:
            assert prev_dir is not None
            turn = _turn(prev_end, prev_dir, a, d, drive.turn_radius_m)[1:-1]
            pieces.append(turn)
            rows.append(np.full(len(turn), -1))
            passes.append(np.full(len(turn), pass_idx))
        seg = _line(a, b)
        pieces.append(seg)
        rows.append(np.full(len(seg), row))
        passes.append(np.full(len(seg), pass_idx))
        prev_end, prev_dir = b, d
    xy = np.concatenate(pieces)
    row_lab = np.concatenate(rows).astype(np.int32)
    pass_lab = np.concatenate(passes).astype(np.int32)
    # Steering wander: a smooth random lateral offset (sum of a few sinusoids over arc length).
    seg_len = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg_len)])
    tangent = np.gradient(xy, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    wavelengths = rng.uniform(4.0, 15.0, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    wander = sum(np.sin(2 * np.pi * s / w + p) for w, p in zip(wavelengths, phases)) / np.sqrt(1.5) \
        * drive.lateral_wander_m
    xy = xy + normal * wander[:, None]
    seg_len = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    keep = np.concatenate([[True], seg_len > 1e-9])
    xy, row_lab, pass_lab = xy[keep], row_lab[keep], pass_lab[keep]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    tangent = np.gradient(xy, s, axis=0)
    yaw = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    return Trajectory(s / drive.speed_mps, xy[:, 0], xy[:, 1], yaw, row_lab, pass_lab, drive.start_time_ns)
