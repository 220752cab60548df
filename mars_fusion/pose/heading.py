"""Heading samples (IMU / dual antenna) in REP-103 yaw, interpolated on the circle."""
from __future__ import annotations

import math
from collections import deque
from typing import Deque, List, Optional, Tuple, Union

import numpy as np

from mars_core.geometry.map_frame import MapFrame


def yaw_from_compass(heading_rad: Union[float, np.ndarray]) -> np.ndarray:
    """REP-103 yaw (0 = east, counter-clockwise) of a compass heading (0 = north, clockwise)."""
    return wrap_angle(np.pi / 2.0 - np.asarray(heading_rad, dtype=np.float64))


def wrap_angle(angle: Union[float, np.ndarray]) -> np.ndarray:
    """Angles wrapped to (-pi, pi]."""
    a = np.asarray(angle, dtype=np.float64)
    return np.pi - np.mod(np.pi - a, 2.0 * np.pi)


class HeadingTrack:
    """Time series of yaw samples; yaw at any stamp by interpolation of the unwrapped angle."""

    def __init__(self, max_age_s: float, smoothing_s: float = 0.0) -> None:
        self.max_age_ns = int(max_age_s * 1e9)
        self.smoothing_ns = int(smoothing_s * 1e9)
        self._t: list = []
        self._yaw: list = []
        self._cache: Tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0))

    def __len__(self) -> int:
        return len(self._t)

    def add(self, stamp_ns: int, yaw: float) -> None:
        """Append a REP-103 yaw sample (samples older than the last one are inserted in order)."""
        if not np.isfinite(yaw):
            raise ValueError(f"heading sample at {stamp_ns} ns is not finite: {yaw}")
        if self._t and stamp_ns < self._t[-1]:
            idx = int(np.searchsorted(np.asarray(self._t), stamp_ns))
            self._t.insert(idx, int(stamp_ns))
            self._yaw.insert(idx, float(yaw))
        else:
            self._t.append(int(stamp_ns))
            self._yaw.append(float(yaw))
        self._cache = (np.zeros(0, np.int64), np.zeros(0))

    def _arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        if self._cache[0].shape[0] != len(self._t):
            t = np.asarray(self._t, dtype=np.int64)
            yaw = np.unwrap(np.asarray(self._yaw))
            if self.smoothing_ns > 0 and t.shape[0] > 2:
                # Moving average over +-smoothing/2: white heading noise shrinks, slow turns stay.
                lo = np.searchsorted(t, t - self.smoothing_ns // 2, "left")
                hi = np.searchsorted(t, t + self.smoothing_ns // 2, "right")
                csum = np.concatenate([[0.0], np.cumsum(yaw - yaw[0])])
                yaw = yaw[0] + (csum[hi] - csum[lo]) / (hi - lo)
            self._cache = (t, yaw)
        return self._cache

    def yaw_at(self, stamps_ns: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Yaw (rad) at stamps and a mask of stamps with a sample within max_age on both sides (or at an end)."""
        stamps = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        t, yaw = self._arrays()
        if t.shape[0] == 0:
            return np.full(stamps.shape, np.nan), np.zeros(stamps.shape, dtype=bool)
        tf = (t - t[0]).astype(np.float64)
        out = np.interp((stamps - t[0]).astype(np.float64), tf, yaw)
        idx = np.searchsorted(t, stamps)
        before = t[np.clip(idx - 1, 0, t.shape[0] - 1)]
        after = t[np.clip(idx, 0, t.shape[0] - 1)]
        near = np.minimum(np.abs(stamps - before), np.abs(after - stamps)) <= self.max_age_ns
        return wrap_angle(out), near

    def covered_until(self, from_ns: int, until_ns: int) -> Optional[int]:
        """The last stamp (<= until_ns) up to which every stamp from from_ns has a sample within max_age;
        None when from_ns itself has none. Dead reckoning integrates the heading only over covered time."""
        t, _ = self._arrays()
        lo = int(np.searchsorted(t, from_ns - self.max_age_ns, "left"))
        hi = int(np.searchsorted(t, until_ns + self.max_age_ns, "right"))
        if lo >= hi or t[lo] > from_ns + self.max_age_ns:
            return None
        # A stamp between two samples has one within max_age unless they are more than 2 x max_age apart.
        breaks = np.flatnonzero(np.diff(t[lo:hi]) > 2 * self.max_age_ns)
        last = int(t[lo + int(breaks[0])]) if breaks.shape[0] else int(t[hi - 1])
        return min(last + self.max_age_ns, int(until_ns))

    def covers(self, from_ns: int, to_ns: int) -> bool:
        """True when every stamp in [from_ns, to_ns] has a sample within max_age."""
        until = self.covered_until(from_ns, to_ns)
        return until is not None and until >= to_ns

    def stamps_between(self, from_ns: int, to_ns: int) -> np.ndarray:
        """Sample stamps strictly between from_ns and to_ns (the nodes of a heading integration)."""
        t, _ = self._arrays()
        return t[np.searchsorted(t, from_ns, "right"):np.searchsorted(t, to_ns, "left")].copy()

    def clear(self) -> None:
        """Forget all samples (new session)."""
        self._t.clear()
        self._yaw.clear()
        self._cache = (np.zeros(0, np.int64), np.zeros(0))


class TrueToMapHeading:
    """Headings from true east (REP-103 IMUs, compasses) -> map yaw, with the grid convergence at the latest fix.

    The map's north is grid north (utm) or true north at the datum (enu), not true north at the robot. The
    convergence is known only once a fix says where the robot is: samples before the first fix wait (the newest
    ``hold_s`` of them, all that a pose at the first fix can use) and are converted with it.
    """

    # The convergence is recomputed when the fix moved by more than this (deg, about 11 m): it changes by at most
    # this many degrees times sin(latitude) over such a move (2e-6 rad), far below any IMU's heading noise.
    RECOMPUTE_DEG = 1e-4

    def __init__(self, reference: str, hold_s: float) -> None:
        if reference not in ("true_north", "map"):
            raise ValueError(f"heading reference must be 'true_north' or 'map', got {reference!r}")
        self.reference = reference
        self.hold_ns = int(hold_s * 1e9)
        self.convergence_rad: Optional[float] = None
        self._at: Tuple[float, float] = (math.nan, math.nan)   # lat, lon the convergence was computed at
        self._held: Deque[Tuple[int, float]] = deque()

    def at_fix(self, map_frame: MapFrame, latitude: float, longitude: float) -> List[Tuple[int, float]]:
        """Update the convergence at a good fix; returns the held (stamp, map yaw) samples, now converted."""
        if self.reference == "map":
            return []
        if not (abs(latitude - self._at[0]) <= self.RECOMPUTE_DEG and abs(longitude - self._at[1]) <= self.RECOMPUTE_DEG):
            self.convergence_rad = float(map_frame.grid_convergence_rad(latitude, longitude))
            self._at = (latitude, longitude)
        convergence = self.convergence_rad
        assert convergence is not None   # set above at the first fix (_at starts as NaN)
        held = [(t, float(wrap_angle(yaw + convergence))) for t, yaw in self._held]
        self._held.clear()
        return held

    def convert(self, stamp_ns: int, yaw: float) -> List[Tuple[int, float]]:
        """The (stamp, map yaw) samples ready for the pose: this one converted, or none while it waits for a fix."""
        if self.reference == "map":
            return [(stamp_ns, yaw)]
        if self.convergence_rad is None:
            self._held.append((stamp_ns, yaw))
            while self._held[0][0] < stamp_ns - self.hold_ns:   # samples arrive in stamp order
                self._held.popleft()
            return []
        return [(stamp_ns, float(wrap_angle(yaw + self.convergence_rad)))]

    def clear(self) -> None:
        """New session: forget the convergence and the held samples (the robot may be elsewhere)."""
        self.convergence_rad = None
        self._at = (math.nan, math.nan)
        self._held.clear()
