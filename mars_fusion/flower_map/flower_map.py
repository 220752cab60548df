"""The de-duplicated flower map: a geolocated track joins an existing flower or creates one.

With plain GNSS, tracks wait ``association_delay_s``
and then join strongest (most observations) first, so that a neighbour's short fragment cannot claim a flower
before the flower's own long tracks. Candidates come from the grid (flat cost at any map size). The map is three
ideas, one file each: the store of flowers (flower_store.py: columns, growth, grid index), the matcher
(track_matching.py: which flower a track belongs to) and the consolidation (consolidation.py: flower-with-flower
merges); this file is the flow that ties them: queueing, association, the per-pass member tracks.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from mars_fusion.config import FusionConfig
from mars_fusion.flower_map.consolidation import FlowerConsolidation
from mars_fusion.flower_map.pass_alignment import PassOffsetEstimator
from mars_fusion.flower_map.track_matching import TrackMatching
from mars_fusion.geolocation.track_position import TrackEstimate


class FlowerMap(TrackMatching, FlowerConsolidation):
    """All flowers with incremental association of geolocated tracks and a final consolidation."""

    def __init__(self, config: FusionConfig, camera_names: Sequence[str]) -> None:
        super().__init__(config, camera_names)
        self._recent: Dict[int, List[TrackEstimate]] = {}
        self._recent_sweep_ns = 0
        self._waiting: List[TrackEstimate] = []   # geolocated tracks within association_delay_s of the newest
        self.pass_offsets = PassOffsetEstimator(config.pass_offset_window_s, config.pass_offset_bandwidth_m,
                                                config.pass_offset_min_support)

    # ------------------------------------------------------------------ association
    def defer_track(self, est: TrackEstimate) -> None:
        """Queue a geolocated track; release_tracks() associates it once association_delay_s has passed. With
        RTK float it votes for the pass offset now, so that tracks released later see the votes around them."""
        self.laterals.add(est.lateral_m)
        self._vote_pass_offset(est)
        self._waiting.append(est)

    def release_tracks(self, everything: bool = False) -> List[Tuple[TrackEstimate, int]]:
        """Associate the queued tracks that are due (all with everything=True); returns (track, flower id) pairs.

        Beyond RTK fixed a track waits until association_delay_s after the newest one: with RTK float so that
        the pass offset is voted by the tracks on both sides of it; with plain GNSS (gnss sd above
        coarse_fix_sd_m) tracks then join most observations first: views seconds apart cannot tell neighbours apart then, and a
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
            due = [not (self._coarse_gnss(e) or self._wandering_gnss(e)) or e.t_last <= newest - delay
                   for e in self._waiting]
            ready = [e for e, d in zip(self._waiting, due) if d]
            if not ready:
                return []
            self._waiting = [e for e, d in zip(self._waiting, due) if not d]
        if any(self._coarse_gnss(e) for e in ready):
            ready.sort(key=lambda e: (-e.n_obs, e.t_last, e.camera_index, e.track_id))
        else:
            ready.sort(key=lambda e: e.t_last)
        return [(e, self.add_track(e)) for e in ready]

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
        offset = self._pass_offset(est)
        if offset is not None:
            shifted = est.xyz[:2] + offset.offset
            cand = np.union1d(cand, self.grid.query(float(shifted[0]), float(shifted[1]), cfg.merge_max_distance_m))
        best, best_score = -1, np.inf
        ray_matched: List[int] = []
        if cand.shape[0]:
            cand = cand[c["alive"][cand]]
            delta = c["xyz"][cand, :2] - est.xyz[:2]
            near = np.hypot(delta[:, 0], delta[:, 1]) <= cfg.merge_max_distance_m
            if offset is not None:
                moved = delta - offset.offset
                near |= np.hypot(moved[:, 0], moved[:, 1]) <= cfg.merge_max_distance_m
            for f, d in zip(cand[near].tolist(), delta[near]):
                score = self._match_score(est, f, d, offset)
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

    def _sweep_recent(self, now_ns: int) -> None:
        if now_ns - self._recent_sweep_ns < self._gap_ns // 4:
            return
        self._recent_sweep_ns = now_ns
        stale = [f for f, members in self._recent.items()
                 if not self._cols["alive"][f] or now_ns - max(m.t_last for m in members) > self._gap_ns]
        self._settle(stale)

    def forget_recent(self) -> None:
        """Drop the per-pass member tracks (new session: nothing of the new session is simultaneous with them)."""
        self._recent.clear()
