"""Dead reckoning through GNSS dropouts: the robot path in a gap between good fixes from the heading and speed.

A gap (a pause between accepted fixes longer than ``DROPOUT_MIN_S``) is bridged in the first way that is sound:

- ``dead_reckoned``: the heading samples cover the gap and it is at most ``dead_reckoning_max_gap_s`` long. The
  heading is integrated at the forward speed of the fixes on either side (linear in time between them) and the
  integrated path is turned and scaled (a similarity about the fix before) so that it ends on the fix after: the
  heading bias and the speed error, the two errors that grow along a dead-reckoned path, are taken out by the
  closure. Where that similarity is implausible the closure error is instead distributed in time.
- ``interpolated``: no heading, but the gap is at most ``max_fix_gap_s``: the straight line between the fixes.
- ``course_over_ground``: no heading, but the course over ground before and after the gap and the chord across it
  all agree (a straight drive): the straight line, up to ``dead_reckoning_max_gap_s``.
- ``not_bridged``: anything else; observations in it get no pose.

With no fix after the last one yet (live, or the end of a bag) the heading is integrated forward from the last
fix for at most ``dead_reckoning_max_extrapolation_s``; so are the first seconds of a gap that is not bridged. The
position sd of a bridged pose grows by ``dead_reckoning_sd_mps`` per second from the nearest fix (extrapolated: from
the last fix), on top of the fix sd; the rays of a flower seen in a dropout get the drift over ``VIEW_DRIFT_S``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from mars_fusion.config import FusionConfig
from mars_fusion.pose.heading import HeadingTrack, wrap_angle

# A pause between good fixes longer than this (s) is a dropout (receivers report at 1-20 Hz).
DROPOUT_MIN_S = 1.0
GAP_KINDS = ("dead_reckoned", "interpolated", "course_over_ground", "not_bridged")
# Course over ground bridges a gap without heading only when it and the chord across the gap agree this well:
# a straight drive, where the straight line between the fixes is the dead-reckoned path.
COURSE_STRAIGHT_TOLERANCE_RAD = 0.1
# The closure similarity needs paths long enough to have a direction; beyond these bounds the heading and the fixes
# disagree about the shape of the path (e.g. the robot stopped in the gap), and the closure error is spread in time.
# The rays of one flower span about this long (s): relative to each other a dead-reckoned pose drifts by
# dead_reckoning_sd_mps over it; the rest of the dropout sd is an offset common to them (an absolute error, like
# the GNSS bias), which loosening the rays' mutual tests by would merge neighbouring flowers.
VIEW_DRIFT_S = 1.0
MIN_CLOSURE_PATH_M = 0.05
MAX_CLOSURE_ROTATION_RAD = 0.35
CLOSURE_SCALE_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class GapSummary:
    """The dropouts of a drive: how many of each kind, and the longest (s)."""

    dead_reckoned: int = 0
    interpolated: int = 0
    course_over_ground: int = 0
    not_bridged: int = 0
    longest_s: float = 0.0

    @property
    def bridged(self) -> int:
        """Dropouts whose poses were bridged, whichever way."""
        return self.dead_reckoned + self.interpolated + self.course_over_ground

    def plus(self, other: "GapSummary") -> "GapSummary":
        """The summary of both drives (sessions)."""
        return GapSummary(self.dead_reckoned + other.dead_reckoned, self.interpolated + other.interpolated,
                          self.course_over_ground + other.course_over_ground, self.not_bridged + other.not_bridged,
                          max(self.longest_s, other.longest_s))

    @classmethod
    def of(cls, kinds: np.ndarray, gap_s: np.ndarray) -> "GapSummary":
        """The summary of gaps with these kinds (GAP_KINDS indices) and lengths."""
        n = np.bincount(np.asarray(kinds, dtype=np.int64), minlength=len(GAP_KINDS))
        return cls(int(n[0]), int(n[1]), int(n[2]), int(n[3]), float(np.max(gap_s)) if gap_s.shape[0] else 0.0)


def gap_rows(t_ns: np.ndarray) -> np.ndarray:
    """Indices i of the fixes after which a gap (dropout) starts: t[i + 1] - t[i] > DROPOUT_MIN_S."""
    return np.flatnonzero(np.diff(np.asarray(t_ns, dtype=np.int64)) > int(DROPOUT_MIN_S * 1e9))


def straight_course(course_before: float, course_after: float, chord_xy: np.ndarray) -> bool:
    """True when the courses over ground on both sides of a gap and the chord across it agree (straight drive)."""
    if not (np.isfinite(course_before) and np.isfinite(course_after)) or float(np.hypot(*chord_xy)) <= 0.0:
        return False
    chord = float(np.arctan2(chord_xy[1], chord_xy[0]))
    return all(abs(float(wrap_angle(a - b))) <= COURSE_STRAIGHT_TOLERANCE_RAD
               for a, b in ((course_before, course_after), (chord, course_before), (chord, course_after)))


def gap_kind(config: FusionConfig, gap_s: float, heading_covers: bool, course_is_straight: bool) -> int:
    """How a gap of gap_s seconds is bridged, as an index into GAP_KINDS (see the module text)."""
    if heading_covers and gap_s <= config.dead_reckoning_max_gap_s:
        return 0
    if gap_s <= config.max_fix_gap_s:
        return 1
    if course_is_straight and gap_s <= config.dead_reckoning_max_gap_s:
        return 2
    return 3


def integrate_heading(headings: HeadingTrack, from_ns: int, to_ns: int, speed_from: float,
                      speed_to: float) -> Tuple[np.ndarray, np.ndarray]:
    """Stamps (K,) and displacements (K, 2) from from_ns of the path driven along the heading, at a forward speed
    (m/s) linear in time from speed_from to speed_to; nodes at from_ns, every heading sample between and to_ns."""
    nodes = np.concatenate([[from_ns], headings.stamps_between(from_ns, to_ns), [to_ns]]).astype(np.int64)
    yaw, _ = headings.yaw_at(nodes)
    span = max(float(to_ns - from_ns), 1.0)
    frac = (nodes - from_ns) / span
    speed = speed_from + (speed_to - speed_from) * frac
    dt = np.diff(nodes) * 1e-9
    mid_yaw = yaw[:-1] + 0.5 * wrap_angle(yaw[1:] - yaw[:-1])
    step = 0.5 * (speed[:-1] + speed[1:]) * dt
    disp = np.zeros((nodes.shape[0], 2))
    disp[1:, 0] = np.cumsum(step * np.cos(mid_yaw))
    disp[1:, 1] = np.cumsum(step * np.sin(mid_yaw))
    return nodes, disp


def close_path(nodes_ns: np.ndarray, disp: np.ndarray, chord_xy: np.ndarray) -> np.ndarray:
    """The integrated displacements (K, 2) corrected so that the last equals chord_xy (the fix after the gap):
    turned and scaled about the start where plausible, else with the closure error distributed in time."""
    end = complex(disp[-1, 0], disp[-1, 1])
    chord = complex(float(chord_xy[0]), float(chord_xy[1]))
    if abs(end) >= MIN_CLOSURE_PATH_M and abs(chord) >= MIN_CLOSURE_PATH_M:
        z = chord / end
        if CLOSURE_SCALE_RANGE[0] <= abs(z) <= CLOSURE_SCALE_RANGE[1] and abs(np.angle(z)) <= MAX_CLOSURE_ROTATION_RAD:
            turned = (disp[:, 0] + 1j * disp[:, 1]) * z
            return np.column_stack([turned.real, turned.imag])
    span = max(float(nodes_ns[-1] - nodes_ns[0]), 1.0)
    frac = (nodes_ns - nodes_ns[0]) / span
    return disp + frac[:, None] * (np.asarray(chord_xy, dtype=np.float64)[None, :2] - disp[-1])


def bridge_gap(headings: HeadingTrack, from_ns: int, from_xy: np.ndarray, speed_from: float, to_ns: int,
               to_xy: np.ndarray, speed_to: float, stamps_ns: np.ndarray) -> np.ndarray:
    """base_link positions (m, 2) at stamps inside a gap covered by heading, from the positions at the fixes on
    both sides and the forward speeds there (NaN: unknown).

    The path is integrated at one constant speed, the one before the gap where known: the closure scales it to
    the fixes anyway, and the speed after the gap rests on the few fixes that arrived when the poses are first
    needed; a speed profile between two noisy speeds bends the path along the row by centimetres."""
    chord = np.asarray(to_xy, dtype=np.float64)[:2] - np.asarray(from_xy, dtype=np.float64)[:2]
    speed = speed_from if np.isfinite(speed_from) else speed_to
    if not np.isfinite(speed):
        yaw, _ = headings.yaw_at(np.array([from_ns, to_ns]))
        mean_yaw = yaw[0] + 0.5 * wrap_angle(yaw[1] - yaw[0])
        speed = float(chord[0] * np.cos(mean_yaw) + chord[1] * np.sin(mean_yaw)) / max((to_ns - from_ns) * 1e-9, 1e-9)
    nodes, disp = integrate_heading(headings, from_ns, to_ns, speed, speed)
    disp = close_path(nodes, disp, chord)
    return _at(nodes, disp, from_xy, stamps_ns)


def extrapolate(headings: HeadingTrack, from_ns: int, from_xy: np.ndarray, speed: float,
                stamps_ns: np.ndarray) -> np.ndarray:
    """base_link positions (m, 2) at stamps after from_ns (the last fix), driven along the heading at a constant
    forward speed; the caller keeps only stamps the heading covers."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    nodes, disp = integrate_heading(headings, from_ns, int(stamps.max()), speed, speed)
    return _at(nodes, disp, from_xy, stamps)


def dropout_sd(config: FusionConfig, stamps_ns: np.ndarray, from_ns: int, to_ns: Optional[int]) -> np.ndarray:
    """The sd (m) that dead reckoning adds at stamps in a gap from from_ns to to_ns (None: no fix after yet)."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    since = (stamps - from_ns) * 1e-9
    # Bridged: the closure pins the path at both fixes, so the error is largest mid-gap.
    away = since if to_ns is None else np.minimum(since, (to_ns - stamps) * 1e-9)
    return config.dead_reckoning_sd_mps * np.maximum(away, 0.0)


def _at(nodes_ns: np.ndarray, disp: np.ndarray, origin_xy: np.ndarray, stamps_ns: np.ndarray) -> np.ndarray:
    tn = (nodes_ns - nodes_ns[0]).astype(np.float64)
    ts = (np.asarray(stamps_ns, dtype=np.int64) - nodes_ns[0]).astype(np.float64)
    origin = np.asarray(origin_xy, dtype=np.float64)
    return np.column_stack([origin[0] + np.interp(ts, tn, disp[:, 0]), origin[1] + np.interp(ts, tn, disp[:, 1])])
