"""The consolidation: merging flowers that turn out to be one (split by a broken track, or seen on two passes).

While driving, a flower of the current pass is settled before its member tracks are forgotten (joined with a
nearby flower no camera saw at the same time); at the end, leftover multi-pass duplicates are merged within the
uncertainty of both passes.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
from scipy.spatial import cKDTree

from mars_fusion.flower_map.flower_store import FlowerStore, unpack_sym2
from mars_fusion.geolocation.track_position import TrackEstimate


class FlowerConsolidation(FlowerStore):
    """Flower-with-flower merges; the FlowerMap keeps the per-pass members they move and compare."""

    _recent: Dict[int, List[TrackEstimate]]   # flower index -> its member tracks of the current pass
    _gap_ns: int                              # same_pass_gap_s in ns

    def _compatible(self, f: int, g: int) -> bool:
        """False when one camera saw members of both flowers at overlapping times (cannot-link)."""
        for a in self._recent.get(f, []):
            for b in self._recent.get(g, []):
                if a.camera_index == b.camera_index and a.t_first <= b.t_last and b.t_first <= a.t_last:
                    return False
        return True

    def _settle(self, flowers: List[int]) -> None:
        """Before forgetting a flower's tracks: join it with a nearby flower of the same pass that no camera
        saw at the same time (one flower split by a broken track whose views did not fit tightly enough)."""
        cfg = self.config
        c = self._cols
        for f in flowers:
            if f not in self._recent:
                continue
            if c["alive"][f] and cfg.split_merge_distance_m > 0:
                cand = self.grid.query(float(c["xyz"][f, 0]), float(c["xyz"][f, 1]), cfg.split_merge_distance_m)
                best, best_d = -1, np.inf
                for g in cand.tolist():
                    if g == f or not c["alive"][g] or g not in self._recent:
                        continue
                    d = float(np.hypot(*(c["xyz"][g, :2] - c["xyz"][f, :2])))
                    dz = abs(float(c["xyz"][g, 2] - c["xyz"][f, 2]))
                    if d <= cfg.split_merge_distance_m and dz <= 3.0 * cfg.split_merge_distance_m and d < best_d \
                            and self._compatible(f, g):
                        best, best_d = g, d
                if best >= 0:
                    keep, gone = (best, f) if c["n_obs"][best] >= c["n_obs"][f] else (f, best)
                    self._absorb(keep, gone)
                    self.counters["split_merges"] += 1
                    continue   # the survivor keeps its (merged) members until it goes stale itself
            self._recent.pop(f, None)

    def settle_all(self) -> None:
        """End of data: settle every flower of the current pass."""
        self._settle(list(self._recent))

    def consolidate(self) -> int:
        """Merge leftover multi-pass duplicates (flowers of different passes agreeing within uncertainty).

        Pairs of one pass were already compared with better (ray) evidence while driving and are left alone.
        Returns the number of flowers removed.
        """
        cfg = self.config
        c = self._cols
        alive = np.flatnonzero(c["alive"][:self._n])
        if alive.shape[0] < 2:
            return 0
        tree = cKDTree(c["xyz"][alive, :2])
        pairs = tree.query_pairs(cfg.merge_max_distance_m, output_type="ndarray")
        if pairs.shape[0] == 0:
            return 0
        a, b = alive[pairs[:, 0]], alive[pairs[:, 1]]
        gap = np.maximum(c["first_ns"][a] - c["last_ns"][b], c["first_ns"][b] - c["last_ns"][a])
        keep = gap > self._gap_ns
        a, b = a[keep], b[keep]
        dist = np.hypot(*(c["xyz"][a, :2] - c["xyz"][b, :2]).T)
        removed = 0
        for i, j in zip(a[np.argsort(dist)].tolist(), b[np.argsort(dist)].tolist()):
            if not (c["alive"][i] and c["alive"][j]):
                continue
            if c["gnss_var"][i] + c["gnss_var"][j] > cfg.multi_pass_max_gnss_sd_m ** 2:
                continue
            delta = c["xyz"][j, :2] - c["xyz"][i, :2]
            s = np.linalg.inv(unpack_sym2(c["info"][i])) + np.linalg.inv(unpack_sym2(c["info"][j]))
            if float(np.sqrt(delta @ np.linalg.solve(s, delta))) > cfg.merge_gate_sigma:
                continue
            self._absorb(i, j)
            removed += 1
        self.counters["consolidation_merges"] += removed
        return removed

    def _absorb(self, i: int, j: int) -> None:
        """Merge flower j into flower i and retire j; j's members of this pass become i's."""
        self._absorb_columns(i, j)
        moved = self._recent.pop(j, None)
        if moved:
            self._recent.setdefault(i, []).extend(moved)
