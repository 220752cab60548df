"""The consolidation: merging flowers that turn out to be one (split by a broken track, or seen on two passes).

While driving, a flower of the current pass is settled before its member tracks are forgotten (joined with a
nearby flower no camera saw at the same time); at the end, leftover multi-pass duplicates are merged within the
uncertainty of both passes.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy.spatial import cKDTree

from mars_fusion.flower_map.flower_store import FlowerStore, unpack_sym2
from mars_fusion.flower_map.pass_alignment import PassOffsetEstimator, consensus_offset
from mars_fusion.geolocation.track_position import TrackEstimate

# Flowers of one pass within this distance (m) of a settling flower vote for its pass offset.
VOTER_RADIUS_M = 2.0


class FlowerConsolidation(FlowerStore):
    """Flower-with-flower merges; the FlowerMap keeps the per-pass members they move and compare."""

    _recent: Dict[int, List[TrackEstimate]]   # flower index -> its member tracks of the current pass
    pass_offsets: PassOffsetEstimator         # the pass-to-map offsets estimated while driving

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
            if c["alive"][f]:
                earlier = self._registered_earlier_flower(f)
                if earlier >= 0:
                    self._absorb(earlier, f)
                    self.counters["registered_pass_merges"] += 1
                    continue
            self._recent.pop(f, None)

    def _registered_earlier_flower(self, f: int) -> int:
        """The flower of an earlier pass that flower f is, once moved by the pass offset around it, within the
        registration residual and both measurement covariances (-1: none). RTK float only (plain GNSS offsets
        exceed pass_offset_max_m; RTK fixed needs no registration): a track that reached its own pass's flower
        first never met the earlier one, so the flowers are registered again when they settle."""
        cfg = self.config
        c = self._cols
        if not cfg.rtk_fixed_max_sd_m ** 2 < c["gnss_var"][f] <= cfg.coarse_fix_sd_m ** 2:
            return -1
        by_flowers = self._flower_pass_offset(f)
        if by_flowers is None:
            by_tracks = self.pass_offsets.offset_around(int(c["first_ns"][f] + c["last_ns"][f]) // 2)
            if by_tracks is None:
                return -1
            offset, spread = by_tracks.offset, by_tracks.spread_m
        else:
            offset, spread = by_flowers
        target = c["xyz"][f, :2] + offset
        cand = self.grid.query(float(target[0]), float(target[1]), cfg.merge_max_distance_m)
        best, best_d = -1, np.inf
        meas_f = np.linalg.inv(unpack_sym2(c["meas_info"][f]))
        for g in cand.tolist():
            if g == f or not c["alive"][g] or not self._earlier_pass(np.array([g]), int(c["first_ns"][f]),
                                                                      float(c["yaw"][f]))[0]:
                continue
            delta = c["xyz"][g, :2] - target
            s = meas_f + np.linalg.inv(unpack_sym2(c["meas_info"][g])) + spread ** 2 * np.eye(2)
            d = float(np.sqrt(delta @ np.linalg.solve(s, delta)))
            if d <= cfg.merge_gate_sigma and d < best_d:
                best, best_d = g, d
        return best

    def _flower_pass_offset(self, f: int) -> Optional[Tuple[np.ndarray, float]]:
        """The offset between f's pass and the earlier pass, voted by the flowers of f's pass around it (each
        placed from all its views, so far better than a single track) with their displacements to the earlier
        flowers near them; (offset, residual) or None."""
        cfg = self.config
        c = self._cols
        mid_f = 0.5 * (c["first_ns"][f] + c["last_ns"][f])
        window = cfg.pass_offset_window_s * 1e9
        around = self.grid.query(float(c["xyz"][f, 0]), float(c["xyz"][f, 1]), VOTER_RADIUS_M)
        votes: List[np.ndarray] = []
        owner: List[np.ndarray] = []
        flower_of: List[np.ndarray] = []
        for h in around.tolist():
            if not c["alive"][h] or abs(0.5 * (c["first_ns"][h] + c["last_ns"][h]) - mid_f) > window \
                    or self._earlier_pass(np.array([h]), int(c["first_ns"][f]), float(c["yaw"][f]))[0]:
                continue
            near = self.grid.query(float(c["xyz"][h, 0]), float(c["xyz"][h, 1]), cfg.pass_offset_max_m)
            near = near[c["alive"][near] & self._earlier_pass(near, int(c["first_ns"][h]), float(c["yaw"][h]))]
            if near.shape[0] == 0:
                continue
            d = c["xyz"][near, :2] - c["xyz"][h, :2]
            within = np.hypot(d[:, 0], d[:, 1]) <= cfg.pass_offset_max_m
            if not within.any():
                continue
            votes.append(d[within])
            flower_of.append(near[within])
            owner.append(np.full(int(within.sum()), len(owner)))
        if not votes:
            return None
        found = consensus_offset(np.concatenate(votes), np.concatenate(owner), np.concatenate(flower_of),
                                 cfg.pass_offset_bandwidth_m, cfg.pass_offset_min_support)
        if found is None:
            return None
        self.counters["flower_pass_offsets"] += 1
        return found[0], found[1]

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
        # A flower seen only from a neighbouring row and its own row's flower are not compared unregistered.
        both_own = ~(self._outside_own_row(a) | self._outside_own_row(b))
        a, b = a[both_own], b[both_own]
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
