"""The robot pose at any stamp from GNSS fixes and heading: outlier and jump handling, smoothing, lever arm.

Fixes are gated against a constant-velocity prediction; a single fix outside the gate is held as suspect and
rejected as an outlier when the next fix agrees with the track again, while ``jump_confirm_fixes``
mutually consistent suspects confirm a GNSS jump and start a new segment (no smoothing across it).
Positions are smoothed by a local linear fit over ``smoothing_window_s`` within a segment; course over ground
comes from the slope of a longer fit. With plain GNSS (most fixes report an sd above ``coarse_fix_sd_m``) both
windows are at least ``coarse_smoothing_window_s``: the receiver bias wanders by decimetres within seconds, so a
short window passes that wander on as robot motion between the views of one flower. Poses between fixes are
interpolated; the antenna lever arm is removed with the heading at that stamp. Dropouts (gaps between fixes) are
bridged by dead reckoning on the heading where it covers them (mars_fusion.pose.dead_reckoning), with a position
sd that grows with the time from the nearest fix.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from mars_fusion.config import FusionConfig
from mars_fusion.pose.dead_reckoning import (DROPOUT_MIN_S, GAP_KINDS, GapSummary, bridge_gap, dropout_sd,
                                             extrapolate, gap_kind, gap_rows, straight_course)
from mars_fusion.pose.heading import HeadingTrack, wrap_angle


@dataclass(frozen=True)
class PoseSamples:
    """base_link poses in map at N stamps: position (N, 3), yaw (N,), horizontal sd (N,), valid mask (N,) and the
    part of the sd that dead reckoning through a dropout adds (N,; 0 where fixes bracket the stamp closely)."""

    xyz: np.ndarray
    yaw: np.ndarray
    sd_h: np.ndarray
    valid: np.ndarray
    sd_dropout: np.ndarray


class _Columns:
    """Append-only float/int columns with amortised growth (fix history of a session)."""

    def __init__(self) -> None:
        self.n = 0
        self.t = np.zeros(256, np.int64)
        self.p = np.zeros((256, 3))
        self.sd = np.zeros(256)
        self.seg = np.zeros(256, np.int64)

    def append(self, t: int, p: Union[Sequence[float], np.ndarray], sd: float, seg: int) -> None:
        if self.n == self.t.shape[0]:
            cap = 2 * self.n
            self.t = np.resize(self.t, cap)
            self.p = np.resize(self.p, (cap, 3))
            self.sd = np.resize(self.sd, cap)
            self.seg = np.resize(self.seg, cap)
        self.t[self.n], self.p[self.n], self.sd[self.n], self.seg[self.n] = t, p, sd, seg
        self.n += 1


GNSS_QUALITIES = ("rtk_fixed", "rtk_float", "gnss")


def fix_quality(sd_h: float, config: FusionConfig) -> str:
    """A fix's regime from its reported horizontal sd: 'rtk_fixed', 'rtk_float' or 'gnss' (plain)."""
    return "gnss" if sd_h > config.coarse_fix_sd_m else "rtk_float" if sd_h > config.rtk_fixed_max_sd_m else "rtk_fixed"


_WINDOW_CELLS_PER_BLOCK = 1 << 18     # rows x window stamps gathered at once: bounds memory on long histories


def _window_blocks(t_ns: np.ndarray, segment: np.ndarray, half_ns: int,
                   rows: np.ndarray) -> Iterator[Tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """Per block of rows: (row slice, gathered stamp indices (m, W), in-window mask (m, W), dt in s (m, W)).

    The window of a row is its stamps within +-half_ns in its own segment (segments are non-decreasing).
    Gathering whole windows at once costs a few numpy calls per block instead of a loop over window offsets.
    """
    tr = t_ns[rows]
    lo = np.maximum(np.searchsorted(t_ns, tr - half_ns, "left"), np.searchsorted(segment, segment[rows], "left"))
    hi = np.minimum(np.searchsorted(t_ns, tr + half_ns, "right"), np.searchsorted(segment, segment[rows], "right"))
    width = int((hi - lo).max()) if rows.shape[0] else 0
    step = max(1, _WINDOW_CELLS_PER_BLOCK // max(width, 1))
    offsets = np.arange(width)
    for a in range(0, rows.shape[0], step):
        block = slice(a, a + step)
        j = lo[block, None] + offsets[None, :]
        use = j < hi[block, None]
        jj = np.where(use, j, rows[block, None])
        dt = np.where(use, (t_ns[jj] - tr[block, None]) * 1e-9, 0.0)
        yield block, jj, use, dt


def local_polynomial_fit(t_ns: np.ndarray, values: np.ndarray, segment: np.ndarray, window_s: float,
                         rows: np.ndarray, degree: int) -> Tuple[np.ndarray, np.ndarray]:
    """Value and slope (per s) of a least-squares polynomial (degree 1 or 2) over +-window/2 within the
    segment, at each row; vectorised over rows and window. Falls back to lower degrees where the window has
    too few stamps (slope NaN with a single stamp)."""
    half = int(window_s * 0.5e9)
    m = rows.shape[0]
    dims = values.shape[1]
    n_pow = 2 * degree + 1
    sp = np.zeros((m, n_pow))                 # sums of dt^k
    sv = np.zeros((m, degree + 1, dims))      # sums of dt^k * value
    count = np.zeros(m, np.int64)
    scale = max(half, 1) * 1e-9               # dt in half-windows: well conditioned
    for block, jj, use, dt in _window_blocks(t_ns, segment, half, rows):
        x = dt / scale
        powers = np.empty((n_pow,) + x.shape)
        powers[0] = use
        for q in range(1, n_pow):
            powers[q] = powers[q - 1] * x
        sp[block] = powers.sum(axis=2).T
        sv[block] = np.einsum("qmw,mwd->mqd", powers[:degree + 1], values[jj])
        count[block] = use.sum(axis=1)
    value = sv[:, 0] / np.maximum(sp[:, :1], 1.0)
    slope = np.full((m, dims), np.nan)
    for deg in range(1, degree + 1):
        size = deg + 1
        a = np.stack([sp[:, i:i + size] for i in range(size)], axis=1)      # (m, size, size) Hankel
        enough = count >= size + (1 if deg == 2 else 0)
        det = np.abs(np.linalg.det(np.where(enough[:, None, None], a, np.eye(size))))
        ok = enough & (det > 1e-9 * np.maximum(sp[:, 0], 1.0) ** size)
        if not ok.any():
            continue
        sol = np.linalg.solve(a[ok], sv[ok, :size])
        value[ok] = sol[:, 0]
        slope[ok] = sol[:, 1] / scale
    return value, slope


def local_linear_fit(t_ns: np.ndarray, values: np.ndarray, segment: np.ndarray, window_s: float,
                     rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, slope (per s) and support of a linear fit over +-window/2 within the segment, at each row.

    Vectorised over rows and window. Slope is NaN with fewer than 2 distinct stamps.
    """
    half = int(window_s * 0.5e9)
    m = rows.shape[0]
    dims = values.shape[1]
    s0 = np.zeros(m)
    st = np.zeros(m)
    stt = np.zeros(m)
    sx = np.zeros((m, dims))
    stx = np.zeros((m, dims))
    for block, jj, use, dt in _window_blocks(t_ns, segment, half, rows):
        w = use.astype(np.float64)
        wdt = w * dt
        s0[block] = w.sum(axis=1)
        st[block] = wdt.sum(axis=1)
        stt[block] = (wdt * dt).sum(axis=1)
        gathered = values[jj]
        sx[block] = np.einsum("mw,mwd->md", w, gathered)
        stx[block] = np.einsum("mw,mwd->md", wdt, gathered)
    den = s0 * stt - st * st
    ok = den > 1e-9 * np.maximum(s0 * s0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(ok[:, None], (s0[:, None] * stx - st[:, None] * sx) / np.where(ok, den, 1.0)[:, None], np.nan)
        value = np.where(ok[:, None], (sx - np.nan_to_num(slope) * st[:, None]) / s0[:, None], sx / s0[:, None])
    return value, slope, s0


class PoseTrack:
    """Smoothed base_link pose in map from antenna fixes (map metres) and optional heading samples."""

    def __init__(self, config: FusionConfig, antenna_xyz: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        self.config = config
        self.antenna_xyz = np.asarray(antenna_xyz, dtype=np.float64).reshape(3)
        self.headings = HeadingTrack(config.heading_max_age_s, config.heading_smoothing_s)
        self.counters: Counter = Counter()
        self._pending: List[Tuple[int, np.ndarray, float]] = []
        self._fixes = _Columns()
        self._earlier_gaps = GapSummary()         # dropouts of the sessions before this one
        self.clear()

    def clear(self) -> None:
        """Forget all fixes and headings (new session); counters and the dropout summary are kept."""
        if self._fixes.n:
            self._earlier_gaps = self._earlier_gaps.plus(self._session_gaps()[2])
        self._gap_cache: Tuple[Tuple[int, int], np.ndarray, np.ndarray] = ((-1, -1), np.zeros(0, np.int64),
                                                                           np.zeros(0, np.int64))
        self._fixes = _Columns()
        self._coarse_fixes = 0
        self._coarse = False
        self._wandering_fixes = 0
        self._wandering = False
        self._segment = 0
        self._pending = []
        self._dirty_from = 0
        self._smooth = np.zeros((0, 3))
        self._velocity = np.zeros((0, 2))
        self._cog = np.zeros(0)
        self._resid_sd = float("nan")
        self.headings.clear()

    # ------------------------------------------------------------------ input
    @property
    def fix_count(self) -> int:
        """Accepted fixes of this session."""
        return self._fixes.n

    @property
    def last_stamp_ns(self) -> Optional[int]:
        """Stamp of the newest accepted fix."""
        return int(self._fixes.t[self._fixes.n - 1]) if self._fixes.n else None

    def add_heading(self, stamp_ns: int, yaw: float) -> None:
        """A REP-103 yaw sample of base_link (already converted and offset)."""
        self.headings.add(stamp_ns, yaw)

    def add_fix(self, stamp_ns: int, antenna_map_xyz: Sequence[float], sd_h: float) -> str:
        """Offer an antenna fix in map metres; returns 'accepted', 'suspect', 'late' or 'jump'."""
        p = np.asarray(antenna_map_xyz, dtype=np.float64).reshape(3)
        f = self._fixes
        if f.n and stamp_ns <= f.t[f.n - 1]:
            self.counters["late_or_duplicate_fix"] += 1
            return "late"
        gap_s = (stamp_ns - f.t[f.n - 1]) * 1e-9 if f.n else 0.0
        if f.n == 0 or gap_s > self.config.max_fix_gap_s:
            if f.n:
                self._segment += 1
                self.counters["gap_segments"] += 1
        if f.n == 0 or gap_s > self.config.max_fix_gap_s:
            self._drop_pending()
            self._accept(stamp_ns, p, sd_h)
            return "accepted"
        if self._within_gate(stamp_ns, p, sd_h):
            self._drop_pending()
            self._accept(stamp_ns, p, sd_h)
            return "accepted"
        self._pending.append((int(stamp_ns), p, float(sd_h)))
        return self._resolve_pending()

    def _drop_pending(self) -> None:
        if self._pending:
            self.counters["outlier_fixes"] += len(self._pending)
            self._pending = []

    def _accept(self, stamp_ns: int, p: np.ndarray, sd_h: float) -> None:
        self._fixes.append(int(stamp_ns), p, sd_h, self._segment)
        self.counters["fixes_" + fix_quality(sd_h, self.config)] += 1
        self._coarse_fixes += int(sd_h > self.config.coarse_fix_sd_m)
        self._wandering_fixes += int(sd_h > self.config.rtk_fixed_max_sd_m)
        coarse = 2 * self._coarse_fixes > self._fixes.n
        wandering = 2 * self._wandering_fixes > self._fixes.n
        if coarse != self._coarse or wandering != self._wandering:
            self._coarse, self._wandering = coarse, wandering
            self._dirty_from = 0          # the windows changed: smooth everything again
        start = int(np.searchsorted(self._fixes.t[:self._fixes.n],
                                    stamp_ns - int(max(self.smoothing_window_s, self.cog_window_s) * 0.5e9)))
        self._dirty_from = min(self._dirty_from, start)

    @property
    def coarse(self) -> bool:
        """True when most fixes of the session report an sd above coarse_fix_sd_m (plain GNSS)."""
        return self._coarse

    @property
    def wandering(self) -> bool:
        """True when most fixes of the session report an sd above rtk_fixed_max_sd_m (RTK float or plain GNSS)."""
        return self._wandering

    @property
    def quality(self) -> str:
        """The session's GNSS regime from what its fixes report: 'rtk_fixed', 'rtk_float', 'gnss' or 'none'."""
        if self._fixes.n == 0:
            return "none"
        return "gnss" if self._coarse else "rtk_float" if self._wandering else "rtk_fixed"

    @property
    def smoothing_window_s(self) -> float:
        """The position smoothing window in use (s): the configured one, longer with plain GNSS."""
        return self._window_in_use(self.config.smoothing_window_s)

    @property
    def cog_window_s(self) -> float:
        """The course-over-ground window in use (s): the configured one, longer with plain GNSS."""
        return self._window_in_use(self.config.cog_window_s)

    def _window_in_use(self, configured_s: float) -> float:
        if self._coarse:
            return max(configured_s, self.config.coarse_smoothing_window_s)
        if self._wandering:
            return max(configured_s, self.config.float_smoothing_window_s)
        return configured_s

    def _predict(self, stamp_ns: int) -> Tuple[np.ndarray, float]:
        f = self._fixes
        last = f.n - 1
        t_last = f.t[last]
        first = int(np.searchsorted(f.t[:f.n], t_last - 1_000_000_000))
        first = max(first, int(np.searchsorted(f.seg[:f.n], f.seg[last])))
        velocity = np.zeros(3)
        if last - first >= 1 and f.t[last] > f.t[first]:
            velocity = (f.p[last] - f.p[first]) / ((f.t[last] - f.t[first]) * 1e-9)
        dt = (stamp_ns - t_last) * 1e-9
        return f.p[last] + velocity * dt, dt

    def _gate(self, sd_a: float, sd_b: float, dt: float) -> float:
        c = self.config
        return max(c.outlier_gate_sigma * float(np.hypot(sd_a, sd_b)), c.outlier_min_gate_m) + 0.5 * dt * dt

    def _within_gate(self, stamp_ns: int, p: np.ndarray, sd_h: float) -> bool:
        pred, dt = self._predict(stamp_ns)
        f = self._fixes
        return float(np.hypot(*(p[:2] - pred[:2]))) <= self._gate(sd_h, float(f.sd[f.n - 1]), dt)

    def _resolve_pending(self) -> str:
        need = self.config.jump_confirm_fixes
        while len(self._pending) >= need:
            chain = self._pending[:need]
            consistent = all(
                float(np.hypot(*(b[1][:2] - a[1][:2])))
                <= self._gate(a[2], b[2], (b[0] - a[0]) * 1e-9) + self.config.max_speed_mps * (b[0] - a[0]) * 1e-9
                for a, b in zip(chain[:-1], chain[1:]))
            if consistent:
                self._segment += 1
                self.counters["gnss_jumps"] += 1
                pending, self._pending = self._pending, []
                for t, p, sd in pending:
                    self._accept(t, p, sd)
                return "jump"
            self._pending.pop(0)
            self.counters["outlier_fixes"] += 1
        return "suspect"

    # ------------------------------------------------------------------ smoothing
    def _update_smoothing(self) -> None:
        f = self._fixes
        n = f.n
        if self._smooth.shape[0] == n and self._dirty_from >= n:
            return
        start = min(self._dirty_from, self._smooth.shape[0])
        rows = np.arange(start, n)
        t, p, seg = f.t[:n], f.p[:n], f.seg[:n]
        # Quadratic: no bias on the headland turns, where a straight-line fit would cut the corner.
        value, _ = local_polynomial_fit(t, p, seg, self.smoothing_window_s, rows, degree=self.config.smoothing_degree)
        _, slope, _ = local_linear_fit(t, p[:, :2], seg, self.cog_window_s, rows)
        smooth = np.empty((n, 3))
        smooth[:start] = self._smooth[:start]
        smooth[start:] = value
        velocity = np.empty((n, 2))
        velocity[:start] = self._velocity[:start]
        velocity[start:] = slope
        self._smooth, self._velocity = smooth, velocity
        speed = np.hypot(velocity[:, 0], velocity[:, 1])
        cog = np.where(speed >= max(self.config.cog_min_speed_mps, 1e-6),
                       np.arctan2(velocity[:, 1], velocity[:, 0]), np.nan)
        self._cog = _hold_last(cog)
        resid = np.hypot(*(p[:, :2] - smooth[:, :2]).T)
        self._resid_sd = float(np.sqrt(np.mean(resid[-2000:] ** 2) / 2.0)) if n >= 3 else float("nan")
        self._dirty_from = n

    def smoothed_noise_sd(self) -> float:
        """Estimated sd (m) of the smoothed position's short-term noise (white noise / sqrt(fixes per window))."""
        self._update_smoothing()
        f = self._fixes
        if f.n < 3 or not np.isfinite(self._resid_sd):
            return 0.0
        span = (f.t[f.n - 1] - f.t[0]) * 1e-9
        per_window = max(1.0, (f.n - 1) / max(span, 1e-9) * self.smoothing_window_s)
        return self._resid_sd / float(np.sqrt(per_window))

    def median_reported_sd(self) -> float:
        """Median horizontal sd (m) the accepted fixes of this session reported (0 without fixes)."""
        return float(np.median(self._fixes.sd[:self._fixes.n])) if self._fixes.n else 0.0

    def relative_pose_sd(self) -> float:
        """sd (m) of the pose relative to itself over a track: the configured floor, the smoothed white noise and,
        with RTK float, the bias wander (a fraction of the fixes' median reported sd)."""
        sd = max(self.config.relative_pose_sd_m, self.smoothed_noise_sd())
        if self._wandering and not self._coarse and self._fixes.n:
            sd = max(sd, self.config.float_relative_pose_fraction * self.median_reported_sd())
        return sd

    def heading_noise_sd(self) -> float:
        """Estimated sd (rad) of the course-over-ground heading (0 when a heading topic is used): the slope
        noise of the window fit divided by the median speed."""
        if self.config.heading_source == "imu" or (self.config.heading_source == "auto" and len(self.headings)):
            return 0.0
        self._update_smoothing()
        f = self._fixes
        if f.n < 3 or not np.isfinite(self._resid_sd):
            return 0.0
        speeds = np.hypot(self._velocity[:, 0], self._velocity[:, 1])
        speed = float(np.nanmedian(speeds)) if np.isfinite(speeds).any() else 0.0
        if speed <= self.config.cog_min_speed_mps:
            return 0.0
        span = (f.t[f.n - 1] - f.t[0]) * 1e-9
        per_window = max(2.0, (f.n - 1) / max(span, 1e-9) * self.cog_window_s)
        slope_sd = self._resid_sd * np.sqrt(12.0 / per_window) / self.cog_window_s
        return float(slope_sd / speed)

    # ------------------------------------------------------------------ queries
    def pose_at(self, stamps_ns: np.ndarray) -> PoseSamples:
        """base_link poses at stamps (vectorised); invalid where no fix brackets the stamp closely enough."""
        stamps = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        m = stamps.shape[0]
        f = self._fixes
        if f.n == 0:
            return PoseSamples(np.full((m, 3), np.nan), np.full(m, np.nan), np.full(m, np.nan), np.zeros(m, bool),
                               np.zeros(m))
        self._update_smoothing()
        t = f.t[:f.n]
        idx = np.searchsorted(t, stamps, "right")
        i0 = np.clip(idx - 1, 0, f.n - 1)
        i1 = np.clip(idx, 0, f.n - 1)
        t0, t1 = t[i0], t[i1]
        span = (t1 - t0).astype(np.float64)
        w = np.where(span > 0, (stamps - t0) / np.where(span > 0, span, 1.0), 0.0)
        w = np.clip(w, 0.0, 1.0)
        ant = self._smooth[i0] * (1 - w)[:, None] + self._smooth[i1] * w[:, None]
        # Beyond either end: extrapolate along the smoothed velocity (bounded by max_extrapolation_s).
        outside = (stamps < t[0]) | (stamps > t[-1])
        if outside.any():
            end = np.where(stamps < t[0], 0, f.n - 1)
            vel = np.nan_to_num(self._velocity[end])
            dt = (stamps - t[end]) * 1e-9
            ant[outside, :2] = self._smooth[end][outside, :2] + vel[outside] * dt[outside, None]
            ant[outside, 2] = self._smooth[end][outside, 2]
        max_gap = self.config.max_fix_gap_s * 1e9
        max_ext = self.config.max_extrapolation_s * 1e9
        valid = np.where(outside, np.minimum(np.abs(stamps - t[0]), np.abs(stamps - t[-1])) <= max_ext,
                         span <= max_gap)
        sd_dropout = np.zeros(m)
        if (span > DROPOUT_MIN_S * 1e9).any() or (stamps > t[-1] + int(max_ext)).any():
            self._bridge_dropouts(stamps, i0, span, outside, ant, valid, sd_dropout)
        yaw = self._yaw_at(stamps, i0, i1, w)
        valid &= np.isfinite(yaw)
        c, s = np.cos(yaw), np.sin(yaw)
        ax, ay, az = self.antenna_xyz
        base = np.stack([ant[:, 0] - (c * ax - s * ay), ant[:, 1] - (s * ax + c * ay), ant[:, 2] - az], axis=1)
        sd = f.sd[i0] * (1 - w) + f.sd[i1] * w
        sd = np.where(sd_dropout > 0, np.hypot(sd, sd_dropout), sd)
        return PoseSamples(base, yaw, sd, valid, sd_dropout)

    # ------------------------------------------------------------------ dropouts
    def _uses_heading(self) -> bool:
        return self.config.heading_source in ("imu", "auto") and len(self.headings) > 0

    def _session_gaps(self) -> Tuple[np.ndarray, np.ndarray, GapSummary]:
        """The gaps of this session: the fix index before each, its kind (GAP_KINDS index), and their summary."""
        f = self._fixes
        key = (f.n, len(self.headings))
        if self._gap_cache[0] != key:
            self._update_smoothing()
            t = f.t[:f.n]
            rows = gap_rows(t)
            kinds = np.zeros(rows.shape[0], np.int64)
            heading = self._uses_heading()
            for k, g in enumerate(rows):
                t0, t1 = int(t[g]), int(t[g + 1])
                covered = heading and self.headings.covers(t0, t1)
                straight = False
                if not covered and (t1 - t0) * 1e-9 > self.config.max_fix_gap_s:
                    straight = straight_course(self._course(int(g)), self._course(int(g) + 1),
                                               self._smooth[g + 1, :2] - self._smooth[g, :2])
                kinds[k] = gap_kind(self.config, (t1 - t0) * 1e-9, covered, straight)
            self._gap_cache = (key, rows, kinds)
        _, rows, kinds = self._gap_cache
        t = f.t[:f.n]
        return rows, kinds, GapSummary.of(kinds, (t[rows + 1] - t[rows]) * 1e-9)

    def gap_summary(self, data_end_ns: Optional[int] = None) -> GapSummary:
        """The dropouts of all sessions so far: how each was bridged (or not), and the longest; with data_end_ns
        (the last stamp of any input) a dropout from the last fix to it counts too: dead-reckoned when the heading
        covers it within dead_reckoning_max_extrapolation_s, else not bridged."""
        if not self._fixes.n:
            return self._earlier_gaps
        summary = self._earlier_gaps.plus(self._session_gaps()[2])
        t_last = int(self._fixes.t[self._fixes.n - 1])
        if data_end_ns is None or data_end_ns - t_last <= DROPOUT_MIN_S * 1e9:
            return summary
        tail_s = (data_end_ns - t_last) * 1e-9
        until = self.headings.covered_until(t_last, data_end_ns) if self._uses_heading() else None
        extrapolated = (until is not None and until >= data_end_ns
                        and tail_s <= self.config.dead_reckoning_max_extrapolation_s)
        return summary.plus(GapSummary(dead_reckoned=int(extrapolated), not_bridged=int(not extrapolated),
                                       longest_s=tail_s))

    def _course(self, i: int) -> float:
        """Course over ground (rad) at fix i; NaN below cog_min_speed_mps."""
        vx, vy = self._velocity[i]
        return float(np.arctan2(vy, vx)) if np.hypot(vx, vy) >= max(self.config.cog_min_speed_mps, 1e-6) else np.nan

    def _forward_speed(self, i: int, yaw: float) -> float:
        """Speed (m/s) over ground at fix i, negative when it points against the heading (reversing); NaN without
        a velocity. The magnitude, not the projection on the heading: the course-over-ground window is seconds
        long, so on a turn its direction lags the heading while its length stays the speed."""
        vx, vy = self._velocity[i]
        return float(np.hypot(vx, vy) * np.sign(vx * np.cos(yaw) + vy * np.sin(yaw)))

    def _base_xy(self, i: int, yaw: float) -> np.ndarray:
        c, s = np.cos(yaw), np.sin(yaw)
        ax, ay, _ = self.antenna_xyz
        return self._smooth[i, :2] - np.array([c * ax - s * ay, s * ax + c * ay])

    def _antenna_xy(self, base_xy: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        yaw, _ = self.headings.yaw_at(stamps)
        c, s = np.cos(yaw), np.sin(yaw)
        ax, ay, _ = self.antenna_xyz
        return base_xy + np.column_stack([c * ax - s * ay, s * ax + c * ay])

    def _bridge_dropouts(self, stamps: np.ndarray, i0: np.ndarray, span: np.ndarray, outside: np.ndarray,
                         ant: np.ndarray, valid: np.ndarray, sd_dropout: np.ndarray) -> None:
        """Antenna positions, validity and added sd (in place) at stamps inside gaps or after the last fix."""
        f = self._fixes
        t = f.t[:f.n]
        in_gap = ~outside & (span > DROPOUT_MIN_S * 1e9)
        if in_gap.any():
            rows, kinds, _ = self._session_gaps()
            kind_of = dict(zip(rows.tolist(), kinds.tolist()))
            for g in np.unique(i0[in_gap]).tolist():
                sel = np.flatnonzero(in_gap & (i0 == g))
                kind = GAP_KINDS[kind_of[g]]
                if kind == "not_bridged":
                    # As if no fix came after: the first seconds are still extrapolated on the heading.
                    valid[sel] = False
                    self._extrapolate(g, stamps, sel, ant, valid, sd_dropout)
                    continue
                valid[sel] = True
                t0, t1 = int(t[g]), int(t[g + 1])
                sd_dropout[sel] = dropout_sd(self.config, stamps[sel], t0, t1)
                if kind == "dead_reckoned":
                    yaw0, yaw1 = self.headings.yaw_at(np.array([t0, t1]))[0]
                    base = bridge_gap(self.headings, t0, self._base_xy(g, yaw0), self._forward_speed(g, yaw0), t1,
                                      self._base_xy(g + 1, yaw1), self._forward_speed(g + 1, yaw1), stamps[sel])
                    ant[sel, :2] = self._antenna_xy(base, stamps[sel])
        after = np.flatnonzero(stamps > t[-1] + int(self.config.max_extrapolation_s * 1e9))
        if after.shape[0]:
            self._extrapolate(f.n - 1, stamps, after, ant, valid, sd_dropout)

    def _extrapolate(self, i: int, stamps: np.ndarray, sel: np.ndarray, ant: np.ndarray, valid: np.ndarray,
                     sd_dropout: np.ndarray) -> None:
        """Dead-reckon (in place) the stamps sel after fix i that the heading covers, up to the extrapolation limit."""
        limit_ns = int(self.config.dead_reckoning_max_extrapolation_s * 1e9)
        if limit_ns <= 0 or not self._uses_heading():
            return
        t_fix = int(self._fixes.t[i])
        until = self.headings.covered_until(t_fix, t_fix + limit_ns)
        yaw0 = float(self.headings.yaw_at(np.array([t_fix]))[0][0])
        speed = self._forward_speed(i, yaw0)
        if until is None or not np.isfinite(speed):
            return
        sel = sel[stamps[sel] <= until]
        if not sel.shape[0]:
            return
        base = extrapolate(self.headings, t_fix, self._base_xy(i, yaw0), speed, stamps[sel])
        ant[sel, :2] = self._antenna_xy(base, stamps[sel])
        valid[sel] = True
        sd_dropout[sel] = dropout_sd(self.config, stamps[sel], t_fix, None)

    def _yaw_at(self, stamps: np.ndarray, i0: np.ndarray, i1: np.ndarray, w: np.ndarray) -> np.ndarray:
        src = self.config.heading_source
        yaw = np.full(stamps.shape, np.nan)
        have = np.zeros(stamps.shape, dtype=bool)
        if src in ("imu", "auto") and len(self.headings):
            yaw_h, near = self.headings.yaw_at(stamps)
            yaw = np.where(near, yaw_h, np.nan)
            have = near
        if src == "course_over_ground" or (src == "auto" and not have.all()):
            a0, a1 = self._cog[i0], self._cog[i1]
            cog = wrap_angle(a0 + w * wrap_angle(a1 - a0))
            yaw = np.where(have, yaw, cog)
            if src == "auto":
                self.counters["course_over_ground_poses"] += int((~have).sum())
        return yaw

    def path(self) -> np.ndarray:
        """Smoothed antenna path (N, 3) of this session, for pictures and row segments."""
        self._update_smoothing()
        return self._smooth.copy()

    def path_stamps(self) -> np.ndarray:
        """Stamps (N,) of path()."""
        return self._fixes.t[:self._fixes.n].copy()

    def counts(self) -> Dict[str, int]:
        """Counters: outliers, jumps, gap segments, late fixes."""
        return dict(self.counters)


def _hold_last(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs with the last finite value, then back-fill the leading NaNs."""
    ok = np.isfinite(values)
    if not ok.any():
        return values.copy()
    idx = np.where(ok, np.arange(values.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    first = int(np.argmax(ok))
    out[:first] = values[first]
    return out
