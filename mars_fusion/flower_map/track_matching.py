"""The matcher: which map flower a geolocated track belongs to (or none: a new flower).

For a flower of the current pass (seen within ``same_pass_gap_s``) the recent member tracks are kept: a member of
the SAME camera overlapping in time forbids the merge (two simultaneous tracks of one camera are two flowers);
members of OTHER cameras overlapping in time are compared by the closest approach of simultaneous rays, gated by
their pixel noise (the pose, and so any GNSS error, is shared); then all views must fit one point (a wider gate
with plain GNSS, whose relative pose between views seconds apart is off by centimetres). A flower of an earlier
pass is compared after moving the track by the pass offset that the recent tracks agree on (pass_alignment.py),
within the registration residual; without an offset (RTK fixed, or too few agreeing tracks yet) with the full
covariance including GNSS (multi-pass merge).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from mars_fusion.flower_map.flower_store import FlowerStore, unpack_sym2
from mars_fusion.flower_map.pass_alignment import PassOffset, PassOffsetEstimator, opposite_heading
from mars_fusion.flower_map.ray_matching import ray_distances, simultaneous_pairs
from mars_fusion.geolocation.track_position import TrackEstimate, triangulate_rays


class TrackMatching(FlowerStore):
    """Scores a track against one candidate flower; the FlowerMap keeps the per-pass members it reads."""

    _recent: Dict[int, List[TrackEstimate]]   # flower index -> its member tracks of the current pass
    pass_offsets: PassOffsetEstimator         # the current pass's offset to the earlier pass's flowers

    def _coarse_gnss(self, est: TrackEstimate) -> bool:
        """True when the track was placed with plain-GNSS poses (sd above coarse_fix_sd_m)."""
        return est.gnss_var > self.config.coarse_fix_sd_m ** 2

    def _vote_pass_offset(self, est: TrackEstimate) -> None:
        """Record this track's displacements to the earlier-pass flowers around it (RTK float only: RTK fixed
        needs no registration, and the metres of plain GNSS exceed pass_offset_max_m)."""
        cfg = self.config
        if not self._wandering_gnss(est):
            return
        c = self._cols
        near = self.grid.query(float(est.xyz[0]), float(est.xyz[1]), cfg.pass_offset_max_m)
        if near.shape[0]:
            near = near[c["alive"][near] & self._earlier_pass(near, est.t_first, est.yaw)]
        votes = c["xyz"][near, :2] - est.xyz[:2]
        within = np.hypot(votes[:, 0], votes[:, 1]) <= cfg.pass_offset_max_m
        self.pass_offsets.add(est.t_last, votes[within], near[within], c["last_ns"][near[within]])

    def _pass_offset(self, est: TrackEstimate) -> Optional[PassOffset]:
        """The pass offset the tracks around this one agree on (None while too few agree, and beyond RTK float)."""
        return self.pass_offsets.estimate(est.t_last) if self._wandering_gnss(est) else None

    def _match_score(self, est: TrackEstimate, f: int, delta: np.ndarray,
                     offset: Optional[PassOffset] = None) -> Optional[float]:
        cfg = self.config
        wandering = self._wandering_gnss(est)
        members = [m for m in self._recent.get(f, ()) if est.t_first - m.t_last < self._gap_ns
                   and not (wandering and opposite_heading(m.yaw, est.yaw))]
        if cfg.appearance_max_distance is not None and members and est.embedding is not None:
            dists = [_cosine_distance(est.embedding, m.embedding) for m in members
                     if m.embedding is not None and m.embedding_model_id == est.embedding_model_id]
            if dists and min(dists) > cfg.appearance_max_distance:
                self.counters["appearance_vetoes"] += 1
                return None
        c = self._cols
        if members:
            simultaneous = False
            for m in members:
                if not (m.t_first <= est.t_last and est.t_first <= m.t_last):
                    continue
                if m.camera_index == est.camera_index:
                    self.counters["cannot_link_same_camera"] += 1
                    return None
                ia, ib = simultaneous_pairs(est.stamps_ns, m.stamps_ns, int(cfg.dedup_max_dt_s * 1e9))
                if ia.shape[0] >= cfg.dedup_min_pairs:
                    dist, _ = ray_distances(est.ray_origins[ia], est.ray_dirs[ia], m.ray_origins[ib], m.ray_dirs[ib])
                    if float(np.median(dist)) > self._ray_gate(est, m, ia, ib):
                        self.counters["ray_test_rejections"] += 1
                        return None
                    simultaneous = True
            # Rays of two cameras meet anywhere in the plane through their baseline, and a short track's
            # position is uncertain along its rays: all views of the track and of the flower's tracks of
            # this pass (GNSS error shared) must fit one point.
            resid = self._joint_residual(est, members)
            # Without simultaneous views (a track broken by occlusion, a camera seeing the flower later)
            # pose and heading drift over the time between the views: a wider gate.
            gate = cfg.dedup_joint_residual_sigma if simultaneous else cfg.fragment_joint_residual_sigma
            if simultaneous and self._coarse_gnss(est):
                gate = max(gate, cfg.coarse_joint_residual_sigma)
            if resid > gate:
                self.counters["joint_fit_rejections"] += 1
                return None
            return resid / gate + (0.0 if simultaneous else 1.0)
        # A flower of an earlier pass: the track's rays must pass by the flower's 3-D point within the GNSS
        # uncertainty of both passes (a 2-D test would let short tracks, uncertain along their rays, attract).
        if offset is not None:
            # Registered to the earlier pass: the rays moved by the pass offset, gated by its residual instead.
            diff = c["xyz"][f] - est.ray_origins
            diff[:, :2] -= offset.offset
            perp = diff - np.sum(diff * est.ray_dirs, axis=1, keepdims=True) * est.ray_dirs
            meas_var = 0.5 * float(np.trace(np.linalg.inv(unpack_sym2(c["meas_info"][f]))))
            scale = np.sqrt(est.ray_sigma ** 2 + meas_var + offset.spread_m ** 2)
            d = float(np.median(np.linalg.norm(perp, axis=1) / scale))
            if d <= cfg.merge_gate_sigma:
                self.counters["multi_pass_registered_candidates"] += 1
                return 2.0 + d / cfg.merge_gate_sigma
            return None
        if self.track_across_rows(est):
            # Seen from the neighbouring row: unregistered, its position differs from the pass over its own row
            # by more than flower spacing; that pass maps it (row_swath.py).
            self.counters["multi_pass_skipped_across_rows"] += 1
            return None
        if est.gnss_var + c["gnss_var"][f] > cfg.multi_pass_max_gnss_sd_m ** 2:
            # Passes metres apart in GNSS error cannot be told apart at flower spacing: merging would join
            # neighbours (use swath_half_width_m so that each flower is mapped from one pass only).
            self.counters["multi_pass_skipped_gnss_too_coarse"] += 1
            return None
        diff = c["xyz"][f] - est.ray_origins
        perp = diff - np.sum(diff * est.ray_dirs, axis=1, keepdims=True) * est.ray_dirs
        meas_var = 0.5 * float(np.trace(np.linalg.inv(unpack_sym2(c["meas_info"][f]))))
        scale = np.sqrt(est.ray_sigma ** 2 + est.gnss_var + c["gnss_var"][f] + meas_var)
        d = float(np.median(np.linalg.norm(perp, axis=1) / scale))
        if d <= cfg.merge_gate_sigma:
            self.counters["multi_pass_candidates"] += 1
            return 2.0 + d / cfg.merge_gate_sigma
        return None

    def _ray_gate(self, a: TrackEstimate, b: TrackEstimate, ia: np.ndarray, ib: np.ndarray) -> float:
        """Largest median closest distance (m) of simultaneous rays of one flower: their pixel noise at the
        viewing distance (the pose, and so any GNSS error, is shared), capped by dedup_ray_gate_m."""
        cfg = self.config
        if a.ray_sigma_pixel is None or b.ray_sigma_pixel is None:
            return cfg.dedup_ray_gate_m
        noise = float(np.median(np.hypot(a.ray_sigma_pixel[ia], b.ray_sigma_pixel[ib])))
        return min(cfg.dedup_ray_gate_m, cfg.dedup_ray_gate_sigma * noise)

    def _joint_residual(self, est: TrackEstimate, partners: List[TrackEstimate]) -> float:
        """Median normalised residual of the rays of est and partner tracks fitted to one point."""
        tracks = [est] + list(partners)
        origins = np.concatenate([t.ray_origins for t in tracks])
        dirs = np.concatenate([t.ray_dirs for t in tracks])
        sigma = np.concatenate([t.ray_sigma for t in tracks])
        prior = float(np.mean([t.ground_z for t in tracks])) + self.config.canopy_height_m
        _, _, resid = triangulate_rays(origins, dirs, sigma, np.zeros(1, np.int64), np.array([prior]),
                                       self.config.canopy_height_sd_m)
        # Per side: a robust fit would otherwise hide a short track's rays among the flower's many rays.
        k = est.n_obs
        return max(float(np.median(resid[:k])), float(np.median(resid[k:])))


def _cosine_distance(a: np.ndarray, b: Optional[np.ndarray]) -> float:
    if b is None:
        return 0.0
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 0.0
    return 1.0 - float(np.dot(a, b)) / (na * nb)
