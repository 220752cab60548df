"""The robot's own row, found from where its tracks lie across the driving direction (GNSS-free).

The outer cameras of a rig over one row also see the neighbouring rows. With RTK fixed, the next pass over the
neighbouring row finds those flowers again in the map and merges; with RTK float or plain GNSS the two passes'
positions differ by decimetres to metres, and a flower seen from both rows would be mapped twice. Each track's
lateral offset from the robot centre line is measured in the robot frame (rays and relative pose only), so the
histogram of laterals over a drive shows the rig's own row as a central mode and the neighbouring rows as side
modes a row spacing away. The density valley between them is the swath: beyond it a flower belongs to a row that
the robot may drive over later, and is counted from there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from scipy.ndimage import gaussian_filter1d

BIN_M = 0.01               # histogram bin (m)
KERNEL_SD_M = 0.03         # smoothing of the density (m): below the spread of flowers around their plant
HALF_RANGE_M = 3.0         # laterals beyond this (m) are not binned (no rig sees that far across)
MIN_TRACKS = 50            # fewer tracks say nothing reliable about rows
CENTRE_MAX_M = 0.3         # the own row's mode lies within this of the centre line (the robot drives over it)
CENTRE_MIN_SHARE = 0.5     # ... and is at least half as dense as the densest lateral
VALLEY_FRACTION = 0.2      # between two rows the density falls below this fraction of the own row's peak
SIDE_MIN_TRACKS = 5        # a neighbouring row is a mode with at least this many tracks ...
SIDE_MIN_SHARE = 0.01      # ... and this share of all tracks
SIDE_MODE_HALF_WIDTH_M = 0.15   # tracks within this of a side mode count towards it
# Two rows' flower bands do not overlap: a neighbouring row's mode lies at least this many sd of the own row's
# laterals away (each band about +-2 sd); closer bumps are the own row's tail.
ROW_SEPARATION_SD = 4.0


@dataclass(frozen=True)
class RowSwath:
    """Lateral limits (m, base_link y: left positive) of the own row; None where no neighbouring row was seen."""

    left_m: Optional[float]
    right_m: Optional[float]

    def inside(self, lateral_m: Union[float, np.ndarray]) -> np.ndarray:
        """True where a lateral offset lies within the own row's swath."""
        lat = np.asarray(lateral_m, dtype=np.float64)
        ok = np.ones(lat.shape, dtype=bool)
        if self.left_m is not None:
            ok &= lat <= self.left_m
        if self.right_m is not None:
            ok &= lat >= -self.right_m
        return ok

    def as_dict(self) -> dict:
        """Plain data for reports."""
        return {"left_m": None if self.left_m is None else round(self.left_m, 3),
                "right_m": None if self.right_m is None else round(self.right_m, 3)}


class LateralHistogram:
    """Counts of track lateral offsets in BIN_M bins; swath() finds the own row's limits from them."""

    def __init__(self) -> None:
        self._half_bins = int(round(HALF_RANGE_M / BIN_M))
        self.counts = np.zeros(2 * self._half_bins + 1, dtype=np.int64)
        self.n_tracks = 0

    def add(self, lateral_m: Union[float, np.ndarray]) -> None:
        """Add one or more tracks' lateral offsets (m)."""
        lat = np.atleast_1d(np.asarray(lateral_m, dtype=np.float64))
        lat = lat[np.isfinite(lat)]
        idx = np.rint(lat / BIN_M).astype(np.int64) + self._half_bins
        idx = idx[(idx >= 0) & (idx < self.counts.shape[0])]
        np.add.at(self.counts, idx, 1)
        self.n_tracks += int(idx.shape[0])

    def swath(self) -> Optional[RowSwath]:
        """The own row's swath, or None: too few tracks, no dense row under the robot, or no neighbouring row."""
        if self.n_tracks < MIN_TRACKS:
            return None
        density = gaussian_filter1d(self.counts.astype(np.float64), KERNEL_SD_M / BIN_M, mode="constant")
        h = self._half_bins
        reach = int(round(CENTRE_MAX_M / BIN_M))
        centre = h - reach + int(np.argmax(density[h - reach:h + reach + 1]))
        peak = float(density[centre])
        if peak <= 0 or peak < CENTRE_MIN_SHARE * float(density.max()):
            return None   # the drive is not over a row (or the rig looks elsewhere)
        spread = self._own_row_sd(density, centre, peak)
        left = self._edge(density, centre, peak, spread, +1)
        right = self._edge(density, centre, peak, spread, -1)
        if left is None and right is None:
            return None
        return RowSwath(None if left is None else (left - h) * BIN_M,
                        None if right is None else (h - right) * BIN_M)

    def _own_row_sd(self, density: np.ndarray, centre: int, peak: float) -> float:
        """Robust sd (bins) of the laterals in the own row's band (where the density stays above the valley)."""
        low = density <= VALLEY_FRACTION * peak
        left = np.flatnonzero(low[centre:])
        right = np.flatnonzero(low[:centre + 1][::-1])
        hi = centre + (int(left[0]) if left.shape[0] else density.shape[0] - centre)
        lo = centre - (int(right[0]) if right.shape[0] else centre)
        counts = self.counts[lo:hi].astype(np.float64)
        if counts.sum() <= 0:
            return 0.0
        bins = np.arange(lo, hi, dtype=np.float64)
        cum = np.cumsum(counts) / counts.sum()
        median = bins[int(np.searchsorted(cum, 0.5))]
        dev = np.abs(bins - median)
        order = np.argsort(dev)
        cum_dev = np.cumsum(counts[order]) / counts.sum()
        return 1.4826 * float(dev[order][int(np.searchsorted(cum_dev, 0.5))])

    def _edge(self, density: np.ndarray, centre: int, peak: float, spread: float, step: int) -> Optional[int]:
        """Bin of the density minimum between the own row and the first neighbouring row on one side (None
        when the density never falls into a valley there, or no populated row follows it)."""
        end = density.shape[0] if step > 0 else -1
        side = np.arange(centre, end, step)
        prof = density[side]
        below = np.flatnonzero(prof <= VALLEY_FRACTION * peak)
        if below.shape[0] == 0:
            return None
        start = int(below[0])
        # The neighbouring row: the densest lateral beyond the valley that rises well above the lowest density
        # between it and the own row (the tail of the own row falls off without rising again).
        rest = prof[start:]
        rising = rest > 2.0 * np.minimum.accumulate(rest)
        if not rising.any():
            return None
        rising &= np.arange(start, start + rest.shape[0]) >= ROW_SEPARATION_SD * spread
        if not rising.any():
            return None
        mode = start + int(np.argmax(np.where(rising, rest, -1.0)))
        valley = start + int(np.argmin(prof[start:mode + 1]))
        w = int(round(SIDE_MODE_HALF_WIDTH_M / BIN_M))
        lo, hi = sorted((int(side[mode]) - w, int(side[mode]) + w))
        mass = int(self.counts[max(lo, 0):hi + 1].sum())
        if mass < max(SIDE_MIN_TRACKS, SIDE_MIN_SHARE * self.n_tracks):
            return None
        return int(side[valley])
