"""The de-duplicated flower map: columnar flower store, spatial hash, track-to-flower association.

A geolocated track joins an existing flower or creates one. With plain GNSS, tracks wait ``association_delay_s``
and then join strongest (most observations) first, so that a neighbour's short fragment cannot claim a flower
before the flower's own long tracks. Candidates come from the grid (flat cost at any map size). For a flower of the
current pass (seen within ``same_pass_gap_s``) the recent member tracks are kept: a member of the SAME camera
overlapping in time forbids the merge (two simultaneous tracks of one camera are two flowers); members of
OTHER cameras overlapping in time are compared by the closest approach of simultaneous rays, gated by their
pixel noise (the pose, and so any GNSS error, is shared); then all views must fit one point (a wider gate
with plain GNSS, whose relative pose between views seconds apart is off by centimetres). A flower of an
earlier pass is compared with the full covariance including GNSS (multi-pass merge).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.spatial import cKDTree

from mars_fusion.config import FusionConfig
from mars_fusion.flower_map.grid_index import GridIndex
from mars_fusion.flower_map.ray_matching import ray_distances, simultaneous_pairs
from mars_fusion.geolocation.track_position import TrackEstimate, triangulate_rays

_COLUMNS = {
    "ids": ((), np.int64), "xyz": ((3,), np.float64), "info": ((3,), np.float64), "info_vec": ((2,), np.float64),
    "meas_info": ((3,), np.float64), "gnss_var": ((), np.float64), "z_var": ((), np.float64), "z_weight": ((), np.float64), "score_sum": ((), np.float64),
    "n_obs": ((), np.int64), "n_tracks": ((), np.int64), "first_ns": ((), np.int64), "last_ns": ((), np.int64),
    "camera_mask": ((), np.int64), "alive": ((), bool),
}


@dataclass(frozen=True)
class FlowerTable:
    """The live flowers as columns: id, position (N, 3), covariance (N, 2, 2), support, cameras, times."""

    ids: np.ndarray
    xyz: np.ndarray
    cov: np.ndarray
    n_obs: np.ndarray
    n_tracks: np.ndarray
    camera_mask: np.ndarray
    first_ns: np.ndarray
    last_ns: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def _sym(c: np.ndarray) -> np.ndarray:
    """(…, 3) packed xx, xy, yy -> (…, 2, 2)."""
    return np.stack([np.stack([c[..., 0], c[..., 1]], -1), np.stack([c[..., 1], c[..., 2]], -1)], -2)


def _pack(m: np.ndarray) -> np.ndarray:
    return np.array([m[0, 0], 0.5 * (m[0, 1] + m[1, 0]), m[1, 1]])


class FlowerMap:
    """All flowers with incremental association of geolocated tracks and a final consolidation."""

    def __init__(self, config: FusionConfig, camera_names: Sequence[str]) -> None:
        if len(camera_names) > 62:
            raise ValueError(f"at most 62 cameras are supported, got {len(camera_names)}")
        self.config = config
        self.camera_names = tuple(camera_names)
        self.counters: Counter = Counter()
        self.grid = GridIndex(config.grid_cell_m)
        self._n = 0
        self._alive_count = 0
        self.next_id = 1
        self._cap = 0
        self._cols: Dict[str, np.ndarray] = {}
        self._grow(1024)
        self._recent: Dict[int, List[TrackEstimate]] = {}
        self._recent_sweep_ns = 0
        self._gap_ns = int(config.same_pass_gap_s * 1e9)
        self.merged_into: Dict[int, int] = {}    # retired flower id -> id it was merged into
        self._waiting: List[TrackEstimate] = []   # geolocated tracks within association_delay_s of the newest

    # ------------------------------------------------------------------ storage
    def _grow(self, capacity: int) -> None:
        for name, (shape, dtype) in _COLUMNS.items():
            old = self._cols.get(name)
            new = np.zeros((capacity,) + shape, dtype=dtype)
            if old is not None:
                new[:self._n] = old[:self._n]
            self._cols[name] = new
        self._cap = capacity

    def _col(self, name: str) -> np.ndarray:
        return self._cols[name]

    def __len__(self) -> int:
        return self.count()

    def count(self) -> int:
        """Number of (de-duplicated) flowers whose detections score high enough on average."""
        if self.config.min_flower_mean_score <= 0:
            return self._alive_count
        return int(self._reported().shape[0])

    def _reported(self) -> np.ndarray:
        """Indices of live flowers that are reported (mean score >= min_flower_mean_score), in id order."""
        c = self._cols
        alive = np.flatnonzero(c["alive"][:self._n])
        thr = self.config.min_flower_mean_score
        if thr > 0:
            alive = alive[c["score_sum"][alive] >= thr * c["n_obs"][alive]]
        return alive[np.argsort(c["ids"][alive], kind="stable")]

    def _new_flower(self, est: TrackEstimate) -> int:
        if self._n == self._cap:
            self._grow(2 * self._cap)
        i = self._n
        self._n += 1
        c = self._cols
        c["ids"][i] = self.next_id
        self.next_id += 1
        c["alive"][i] = True
        c["xyz"][i] = est.xyz
        info = np.linalg.inv(est.cov)
        c["info"][i] = _pack(info)
        c["info_vec"][i] = info @ est.xyz[:2]
        c["meas_info"][i] = _pack(np.linalg.inv(est.cov_meas))
        c["gnss_var"][i] = est.gnss_var
        c["z_var"][i] = est.z_var
        c["z_weight"][i] = est.n_obs
        c["score_sum"][i] = est.score_sum
        c["n_obs"][i] = est.n_obs
        c["n_tracks"][i] = 1
        c["first_ns"][i] = est.t_first
        c["last_ns"][i] = est.t_last
        c["camera_mask"][i] = 1 << est.camera_index
        self._alive_count += 1
        self.grid.insert(i, float(est.xyz[0]), float(est.xyz[1]))
        return i

    def _merge_into(self, i: int, est: TrackEstimate) -> None:
        c = self._cols
        old_xy = (float(c["xyz"][i, 0]), float(c["xyz"][i, 1]))
        info_e = np.linalg.inv(est.cov)
        info = _sym(c["info"][i]) + info_e
        vec = c["info_vec"][i] + info_e @ est.xyz[:2]
        xy = np.linalg.solve(info, vec)
        c["info"][i] = _pack(info)
        c["info_vec"][i] = vec
        c["meas_info"][i] = _pack(_sym(c["meas_info"][i]) + np.linalg.inv(est.cov_meas))
        c["gnss_var"][i] = min(c["gnss_var"][i], est.gnss_var)
        c["z_var"][i] = min(c["z_var"][i], est.z_var)
        zw = c["z_weight"][i]
        c["xyz"][i, 2] = (c["xyz"][i, 2] * zw + est.xyz[2] * est.n_obs) / (zw + est.n_obs)
        c["z_weight"][i] = zw + est.n_obs
        c["xyz"][i, :2] = xy
        c["n_obs"][i] += est.n_obs
        c["score_sum"][i] += est.score_sum
        c["n_tracks"][i] += 1
        c["first_ns"][i] = min(c["first_ns"][i], est.t_first)
        c["last_ns"][i] = max(c["last_ns"][i], est.t_last)
        c["camera_mask"][i] |= 1 << est.camera_index
        self.grid.move(i, old_xy, (float(xy[0]), float(xy[1])))

    # ------------------------------------------------------------------ association
    def defer_track(self, est: TrackEstimate) -> None:
        """Queue a geolocated track; release_tracks() associates it once association_delay_s has passed."""
        self._waiting.append(est)

    def release_tracks(self, everything: bool = False) -> List[Tuple[TrackEstimate, int]]:
        """Associate the queued tracks that are due (all with everything=True); returns (track, flower id) pairs.

        With plain GNSS (gnss sd above coarse_fix_sd_m) a track waits until association_delay_s after the newest
        one and tracks join most observations first: views seconds apart cannot tell neighbours apart then, and a
        short fragment of a neighbouring flower that happened to end earlier would claim a flower before the
        flower's own long tracks and block them (one camera, two tracks). Other tracks join at once, in order
        of their last observation."""
        if not self._waiting:
            return []
        if everything:
            ready, self._waiting = self._waiting, []
        else:
            newest = max(e.t_last for e in self._waiting)
            delay = int(self.config.association_delay_s * 1e9)
            due = [not self._coarse_gnss(e) or e.t_last <= newest - delay for e in self._waiting]
            ready = [e for e, d in zip(self._waiting, due) if d]
            if not ready:
                return []
            self._waiting = [e for e, d in zip(self._waiting, due) if not d]
        if any(self._coarse_gnss(e) for e in ready):
            ready.sort(key=lambda e: (-e.n_obs, e.t_last, e.camera_index, e.track_id))
        else:
            ready.sort(key=lambda e: e.t_last)
        return [(e, self.add_track(e)) for e in ready]

    def _coarse_gnss(self, est: TrackEstimate) -> bool:
        """True when the track was placed with plain-GNSS poses (sd above coarse_fix_sd_m)."""
        return est.gnss_var > self.config.coarse_fix_sd_m ** 2

    @property
    def waiting_tracks(self) -> int:
        """Geolocated tracks queued for association."""
        return len(self._waiting)

    def add_track(self, est: TrackEstimate) -> int:
        """Associate one geolocated track: returns the id of the flower it joined or created."""
        cfg = self.config
        c = self._cols
        self._sweep_recent(est.t_first)
        cand = self.grid.query(float(est.xyz[0]), float(est.xyz[1]), cfg.merge_max_distance_m)
        best, best_score = -1, np.inf
        ray_matched: List[int] = []
        if cand.shape[0]:
            cand = cand[c["alive"][cand]]
            delta = c["xyz"][cand, :2] - est.xyz[:2]
            near = np.hypot(delta[:, 0], delta[:, 1]) <= cfg.merge_max_distance_m
            for f, d in zip(cand[near].tolist(), delta[near]):
                score = self._match_score(est, f, d)
                if score is None:
                    continue
                if score <= 1.0:
                    ray_matched.append(f)
                if score < best_score:
                    best, best_score = f, score
        if best < 0:
            best = self._new_flower(est)
            self.counters["flowers_created"] += 1
        else:
            self._merge_into(best, est)
            self.counters["tracks_merged"] += 1
        self._recent.setdefault(best, []).append(est)
        # The track saw the same point as several flowers of the pass (by simultaneous rays): they are one
        # flower split earlier (e.g. a track broken by occlusion), unless a camera saw two of them at once.
        for f in ray_matched:
            if f != best and c["alive"][f] and self._compatible(best, f):
                self._absorb(best, f)
                self.counters["transitive_merges"] += 1
        self._sweep_recent(est.t_last)
        return int(c["ids"][best])

    def _match_score(self, est: TrackEstimate, f: int, delta: np.ndarray) -> Optional[float]:
        cfg = self.config
        members = [m for m in self._recent.get(f, ()) if est.t_first - m.t_last < self._gap_ns]
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
        if est.gnss_var + c["gnss_var"][f] > cfg.multi_pass_max_gnss_sd_m ** 2:
            # Passes metres apart in GNSS error cannot be told apart at flower spacing: merging would join
            # neighbours (use swath_half_width_m so that each flower is mapped from one pass only).
            self.counters["multi_pass_skipped_gnss_too_coarse"] += 1
            return None
        diff = c["xyz"][f] - est.ray_origins
        perp = diff - np.sum(diff * est.ray_dirs, axis=1, keepdims=True) * est.ray_dirs
        meas_var = 0.5 * float(np.trace(np.linalg.inv(_sym(c["meas_info"][f]))))
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

    def _compatible(self, f: int, g: int) -> bool:
        """False when one camera saw members of both flowers at overlapping times (cannot-link)."""
        for a in self._recent.get(f, []):
            for b in self._recent.get(g, []):
                if a.camera_index == b.camera_index and a.t_first <= b.t_last and b.t_first <= a.t_last:
                    return False
        return True

    def _sweep_recent(self, now_ns: int) -> None:
        if now_ns - self._recent_sweep_ns < self._gap_ns // 4:
            return
        self._recent_sweep_ns = now_ns
        stale = [f for f, members in self._recent.items()
                 if not self._cols["alive"][f] or now_ns - max(m.t_last for m in members) > self._gap_ns]
        self._settle(stale)

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

    def forget_recent(self) -> None:
        """Drop the per-pass member tracks (new session: nothing of the new session is simultaneous with them)."""
        self._recent.clear()

    # ------------------------------------------------------------------ bulk and output
    def insert_many(self, xyz: np.ndarray, cov: np.ndarray, n_obs: np.ndarray, first_ns: np.ndarray,
                    last_ns: np.ndarray, camera_mask: np.ndarray, ids: Optional[np.ndarray] = None,
                    n_tracks: Optional[np.ndarray] = None, gnss_var: Optional[np.ndarray] = None,
                    score_sum: Optional[np.ndarray] = None) -> None:
        """Add flowers in bulk (map resume, benchmarks): positions (N, 3) and covariances (N, 2, 2)."""
        n = int(xyz.shape[0])
        if n == 0:
            return
        if not np.all(np.isfinite(xyz)) or not np.all(np.isfinite(cov)):
            raise ValueError("insert_many: flower positions and covariances must be finite")
        while self._n + n > self._cap:
            self._grow(2 * self._cap)
        sl = slice(self._n, self._n + n)
        c = self._cols
        if ids is None:
            ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        c["ids"][sl] = ids
        self.next_id = max(self.next_id, int(np.max(ids)) + 1)
        c["xyz"][sl] = xyz
        info = np.linalg.inv(cov)
        c["info"][sl] = np.stack([info[:, 0, 0], info[:, 0, 1], info[:, 1, 1]], axis=1)
        c["info_vec"][sl] = np.einsum("nij,nj->ni", info, xyz[:, :2])
        g = np.zeros(n) if gnss_var is None else np.asarray(gnss_var, dtype=np.float64)
        meas = cov - g[:, None, None] * np.eye(2)[None]
        meas = meas + 1e-8 * np.eye(2)[None]
        mi = np.linalg.inv(meas)
        c["meas_info"][sl] = np.stack([mi[:, 0, 0], mi[:, 0, 1], mi[:, 1, 1]], axis=1)
        c["gnss_var"][sl] = g
        c["z_var"][sl] = 0.5 * (cov[:, 0, 0] + cov[:, 1, 1]) - g
        c["z_weight"][sl] = n_obs
        c["score_sum"][sl] = np.asarray(n_obs, dtype=np.float64) if score_sum is None else score_sum
        c["n_obs"][sl] = n_obs
        c["n_tracks"][sl] = 1 if n_tracks is None else n_tracks
        c["first_ns"][sl] = first_ns
        c["last_ns"][sl] = last_ns
        c["camera_mask"][sl] = camera_mask
        c["alive"][sl] = True
        self.grid.insert_many(np.arange(self._n, self._n + n), xyz[:, :2])
        self._n += n
        self._alive_count += n

    def flowers(self) -> FlowerTable:
        """Copies of the reported flowers' columns, ordered by id (low-score flowers stay in the map, unreported:
        more views may still lift them)."""
        c = self._cols
        alive = self._reported()
        return FlowerTable(c["ids"][alive].copy(), c["xyz"][alive].copy(), np.linalg.inv(_sym(c["info"][alive])),
                           c["n_obs"][alive].copy(), c["n_tracks"][alive].copy(), c["camera_mask"][alive].copy(),
                           c["first_ns"][alive].copy(), c["last_ns"][alive].copy())

    def gnss_var(self) -> np.ndarray:
        """GNSS variance per reported flower (ordered as flowers())."""
        return self._cols["gnss_var"][self._reported()].copy()

    def store_columns(self) -> Dict[str, np.ndarray]:
        """Every live flower (reported or not) as the columns MapState stores, ordered by id."""
        c = self._cols
        alive = np.flatnonzero(c["alive"][:self._n])
        alive = alive[np.argsort(c["ids"][alive], kind="stable")]
        return {"ids": c["ids"][alive].copy(), "xyz": c["xyz"][alive].copy(), "cov": np.linalg.inv(_sym(c["info"][alive])),
                "n_obs": c["n_obs"][alive].copy(), "n_tracks": c["n_tracks"][alive].copy(),
                "camera_mask": c["camera_mask"][alive].copy(), "first_ns": c["first_ns"][alive].copy(),
                "last_ns": c["last_ns"][alive].copy(), "gnss_var": c["gnss_var"][alive].copy(),
                "score_sum": c["score_sum"][alive].copy()}

    def current_id(self, flower_id: int) -> int:
        """The live flower a (possibly merged-away) flower id now belongs to."""
        while flower_id in self.merged_into:
            flower_id = self.merged_into[flower_id]
        return flower_id

    def cameras_of(self, mask: int) -> List[str]:
        """Camera names in a camera bitmask."""
        return [name for i, name in enumerate(self.camera_names) if mask >> i & 1]

    # ------------------------------------------------------------------ consolidation
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
            s = np.linalg.inv(_sym(c["info"][i])) + np.linalg.inv(_sym(c["info"][j]))
            if float(np.sqrt(delta @ np.linalg.solve(s, delta))) > cfg.merge_gate_sigma:
                continue
            self._absorb(i, j)
            removed += 1
        self.counters["consolidation_merges"] += removed
        return removed

    def _absorb(self, i: int, j: int) -> None:
        """Merge flower j into flower i and retire j."""
        c = self._cols
        old_xy = (float(c["xyz"][i, 0]), float(c["xyz"][i, 1]))
        info = _sym(c["info"][i]) + _sym(c["info"][j])
        vec = c["info_vec"][i] + c["info_vec"][j]
        xy = np.linalg.solve(info, vec)
        c["info"][i], c["info_vec"][i] = _pack(info), vec
        c["meas_info"][i] = _pack(_sym(c["meas_info"][i]) + _sym(c["meas_info"][j]))
        wi, wj = c["z_weight"][i], c["z_weight"][j]
        c["xyz"][i, 2] = (c["xyz"][i, 2] * wi + c["xyz"][j, 2] * wj) / max(wi + wj, 1e-12)
        c["z_weight"][i] = wi + wj
        c["xyz"][i, :2] = xy
        for name in ("n_obs", "n_tracks", "score_sum"):
            c[name][i] += c[name][j]
        c["first_ns"][i] = min(c["first_ns"][i], c["first_ns"][j])
        c["last_ns"][i] = max(c["last_ns"][i], c["last_ns"][j])
        c["camera_mask"][i] |= c["camera_mask"][j]
        c["gnss_var"][i] = min(c["gnss_var"][i], c["gnss_var"][j])
        c["z_var"][i] = min(c["z_var"][i], c["z_var"][j])
        c["alive"][j] = False
        self.merged_into[int(c["ids"][j])] = int(c["ids"][i])
        self._alive_count -= 1
        self.grid.remove(j, float(c["xyz"][j, 0]), float(c["xyz"][j, 1]))
        self.grid.move(i, old_xy, (float(xy[0]), float(xy[1])))
        moved = self._recent.pop(j, None)
        if moved:
            self._recent.setdefault(i, []).extend(moved)


def _cosine_distance(a: np.ndarray, b: Optional[np.ndarray]) -> float:
    if b is None:
        return 0.0
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 0.0
    return 1.0 - float(np.dot(a, b)) / (na * nb)
