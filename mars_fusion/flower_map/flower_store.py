"""The flower store: the map's flowers as growable numpy columns, kept in step with the spatial grid.

Adding a flower, merging a track or another flower into one, bulk insertion and the copies handed out
(FlowerTable, store columns) live here; which flower a track joins is the matcher's (track_matching.py), when
flowers are merged afterwards is the consolidation's (consolidation.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mars_core.columns import ColumnTable, column
from mars_fusion.config import FusionConfig
from mars_fusion.flower_map.grid_index import GridIndex
from mars_fusion.flower_map.pass_alignment import opposite_heading
from mars_fusion.flower_map.row_swath import LateralHistogram, RowSwath
from mars_fusion.geolocation.track_position import TrackEstimate

_COLUMNS = {
    "ids": ((), np.int64), "xyz": ((3,), np.float64), "info": ((3,), np.float64), "info_vec": ((2,), np.float64),
    "meas_info": ((3,), np.float64), "gnss_var": ((), np.float64), "z_var": ((), np.float64), "z_weight": ((), np.float64), "score_sum": ((), np.float64),
    "n_obs": ((), np.int64), "n_tracks": ((), np.int64), "first_ns": ((), np.int64), "last_ns": ((), np.int64),
    "camera_mask": ((), np.int64), "alive": ((), bool),
    "yaw": ((), np.float64),   # robot heading when the flower was first mapped (NaN: unknown, e.g. resumed)
    # Lateral offsets (m, robot frame) of the flower's tracks nearest the centre line from the left (>= 0) and
    # from the right (< 0): a flower lies in the robot's own row when either is within the row swath.
    "lateral_left": ((), np.float64), "lateral_right": ((), np.float64),
}


@dataclass(frozen=True)
class FlowerTable(ColumnTable):
    """The live flowers as columns: id, position (N, 3), covariance (N, 2, 2), support, cameras, times."""

    ids: np.ndarray = column(np.int64)
    xyz: np.ndarray = column(np.float64, 3)
    cov: np.ndarray = column(np.float64, 2, 2)
    n_obs: np.ndarray = column(np.int64)
    n_tracks: np.ndarray = column(np.int64)
    camera_mask: np.ndarray = column(np.int64)
    first_ns: np.ndarray = column(np.int64)
    last_ns: np.ndarray = column(np.int64)


def unpack_sym2(c: np.ndarray) -> np.ndarray:
    """(…, 3) packed xx, xy, yy -> (…, 2, 2)."""
    return np.stack([np.stack([c[..., 0], c[..., 1]], -1), np.stack([c[..., 1], c[..., 2]], -1)], -2)


def pack_sym2(m: np.ndarray) -> np.ndarray:
    """(2, 2) -> packed xx, xy, yy (the off-diagonal averaged)."""
    return np.array([m[0, 0], 0.5 * (m[0, 1] + m[1, 0]), m[1, 1]])


class FlowerStore:
    """The flowers' columns (information-form 2-D position, z, support, times, cameras) and their grid index."""

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
        self.merged_into: Dict[int, int] = {}    # retired flower id -> id it was merged into
        self._gap_ns = int(config.same_pass_gap_s * 1e9)
        self.laterals = LateralHistogram()       # every mapped track's lateral offset: the own row's swath
        self._swath: Optional[RowSwath] = None
        self._swath_tracks = 0                   # histogram size when _swath was derived
        # Rows whose columns changed since the last take, kept only once a live publisher asked for them
        # (track_changes): the offline counter pays nothing.
        self.change_log: Optional[RowChangeLog] = None

    def track_changes(self) -> "RowChangeLog":
        """Start logging the rows whose columns change (new, merged, absorbed, bulk-inserted flowers)."""
        if self.change_log is None:
            self.change_log = RowChangeLog()
        return self.change_log

    # ------------------------------------------------------------------ passes
    def _wandering_gnss(self, est: TrackEstimate) -> bool:
        """True when the track was placed with RTK float poses (sd between rtk_fixed_max_sd_m and
        coarse_fix_sd_m): its pass is told apart by the driving direction too, and registered to earlier passes."""
        return self.config.rtk_fixed_max_sd_m ** 2 < est.gnss_var <= self.config.coarse_fix_sd_m ** 2

    def _earlier_pass(self, flowers: np.ndarray, t_first: int, yaw: float) -> np.ndarray:
        """Mask of the flowers mapped by an earlier pass than a view at t_first heading yaw: first seen more
        than same_pass_gap_s before, or seen before while driving the other way."""
        c = self._cols
        return (c["first_ns"][flowers] < t_first - self._gap_ns) | (
            (c["last_ns"][flowers] < t_first) & opposite_heading(c["yaw"][flowers], yaw))

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
        """Number of (de-duplicated) flowers whose detections score high enough on average, beyond RTK fixed
        without the flowers seen only from a neighbouring row (see row_swath.py)."""
        if self.config.min_flower_mean_score <= 0 and self.row_swath() is None:
            return self._alive_count
        return int(self._reported().shape[0])

    def _scored(self) -> np.ndarray:
        """Indices of live flowers whose detections score min_flower_mean_score on average (unordered)."""
        c = self._cols
        alive = np.flatnonzero(c["alive"][:self._n])
        thr = self.config.min_flower_mean_score
        if thr > 0:
            alive = alive[c["score_sum"][alive] >= thr * c["n_obs"][alive]]
        return alive

    def _reported(self) -> np.ndarray:
        """Indices of the reported flowers in id order: scored, and not left to a neighbouring row's pass."""
        c = self._cols
        alive = self._scored()
        alive = alive[~self._outside_own_row(alive)]
        return alive[np.argsort(c["ids"][alive], kind="stable")]

    # ------------------------------------------------------------------ rows
    def row_swath(self) -> Optional[RowSwath]:
        """The own row's swath derived from the tracks' laterals (None: not derivable yet, or swath_half_width_m
        set, which drops tracks outside it before they reach the map)."""
        if self.config.swath_half_width_m is not None:
            return None
        n = self.laterals.n_tracks
        # Re-derived as the histogram grows by a tenth: flat cost per track, and stable between calls.
        if n >= self._swath_tracks * 1.1 + 1:
            self._swath = self.laterals.swath()
            self._swath_tracks = n
        return self._swath

    def _across_rows(self, gnss_var: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Mask of views (or flowers) beyond RTK fixed whose every lateral lies outside the own row's swath:
        another pass over their row sees them again with a position that differs by more than flower spacing."""
        swath = self.row_swath()
        if swath is None:
            return np.zeros(np.shape(gnss_var), dtype=bool)
        beyond_fixed = np.asarray(gnss_var) > self.config.rtk_fixed_max_sd_m ** 2
        # An infinite side means no track on that side of the centre line.
        own = (np.isfinite(left) & swath.inside(left)) | (np.isfinite(right) & swath.inside(right))
        return beyond_fixed & ~own

    def _outside_own_row(self, flowers: np.ndarray) -> np.ndarray:
        """Mask of flowers left to a neighbouring row's pass (kept in the map, not reported)."""
        c = self._cols
        return self._across_rows(c["gnss_var"][flowers], c["lateral_left"][flowers], c["lateral_right"][flowers])

    def track_across_rows(self, est: TrackEstimate) -> bool:
        """True when a track beyond RTK fixed lies outside the own row's swath."""
        left, right = _lateral_sides(est.lateral_m)
        return bool(self._across_rows(np.array(est.gnss_var), np.array(left), np.array(right)))

    def outside_own_row_count(self) -> int:
        """Flowers (scoring high enough) seen only from a neighbouring row beyond RTK fixed, so not reported."""
        return int(np.count_nonzero(self._outside_own_row(self._scored())))

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
        c["info"][i] = pack_sym2(info)
        c["info_vec"][i] = info @ est.xyz[:2]
        c["meas_info"][i] = pack_sym2(np.linalg.inv(est.cov_meas))
        c["gnss_var"][i] = est.gnss_var
        c["z_var"][i] = est.z_var
        c["z_weight"][i] = est.n_obs
        c["score_sum"][i] = est.score_sum
        c["n_obs"][i] = est.n_obs
        c["n_tracks"][i] = 1
        c["first_ns"][i] = est.t_first
        c["last_ns"][i] = est.t_last
        c["camera_mask"][i] = 1 << est.camera_index
        c["yaw"][i] = est.yaw
        c["lateral_left"][i], c["lateral_right"][i] = _lateral_sides(est.lateral_m)
        self._alive_count += 1
        self.grid.insert(i, float(est.xyz[0]), float(est.xyz[1]))
        if self.change_log is not None:
            self.change_log.mark(i)
        return i

    def _merge_into(self, i: int, est: TrackEstimate) -> None:
        c = self._cols
        old_xy = (float(c["xyz"][i, 0]), float(c["xyz"][i, 1]))
        info_e = np.linalg.inv(est.cov)
        info = unpack_sym2(c["info"][i]) + info_e
        vec = c["info_vec"][i] + info_e @ est.xyz[:2]
        xy = np.linalg.solve(info, vec)
        c["info"][i] = pack_sym2(info)
        c["info_vec"][i] = vec
        c["meas_info"][i] = pack_sym2(unpack_sym2(c["meas_info"][i]) + np.linalg.inv(est.cov_meas))
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
        left, right = _lateral_sides(est.lateral_m)
        c["lateral_left"][i] = min(c["lateral_left"][i], left)
        c["lateral_right"][i] = max(c["lateral_right"][i], right)
        self.grid.move(i, old_xy, (float(xy[0]), float(xy[1])))
        if self.change_log is not None:
            self.change_log.mark(i)

    def _absorb_columns(self, i: int, j: int) -> None:
        """Merge flower j's columns into flower i's and retire j (its id now maps to i's)."""
        c = self._cols
        old_xy = (float(c["xyz"][i, 0]), float(c["xyz"][i, 1]))
        info = unpack_sym2(c["info"][i]) + unpack_sym2(c["info"][j])
        vec = c["info_vec"][i] + c["info_vec"][j]
        xy = np.linalg.solve(info, vec)
        c["info"][i], c["info_vec"][i] = pack_sym2(info), vec
        c["meas_info"][i] = pack_sym2(unpack_sym2(c["meas_info"][i]) + unpack_sym2(c["meas_info"][j]))
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
        c["lateral_left"][i] = min(c["lateral_left"][i], c["lateral_left"][j])
        c["lateral_right"][i] = max(c["lateral_right"][i], c["lateral_right"][j])
        c["alive"][j] = False
        self.merged_into[int(c["ids"][j])] = int(c["ids"][i])
        self._alive_count -= 1
        self.grid.remove(j, float(c["xyz"][j, 0]), float(c["xyz"][j, 1]))
        self.grid.move(i, old_xy, (float(xy[0]), float(xy[1])))
        if self.change_log is not None:
            self.change_log.mark(i)
            self.change_log.mark(j)

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
        c["yaw"][sl] = np.nan
        c["lateral_left"][sl] = 0.0    # unknown (resumed): taken as the own row, so always reported
        c["lateral_right"][sl] = 0.0
        self.grid.insert_many(np.arange(self._n, self._n + n), xyz[:, :2])
        if self.change_log is not None:
            self.change_log.mark_range(self._n, self._n + n)
        self._n += n
        self._alive_count += n

    def flowers(self) -> FlowerTable:
        """Copies of the reported flowers' columns, ordered by id (low-score flowers stay in the map, unreported:
        more views may still lift them)."""
        c = self._cols
        alive = self._reported()
        return FlowerTable(c["ids"][alive].copy(), c["xyz"][alive].copy(), np.linalg.inv(unpack_sym2(c["info"][alive])),
                           c["n_obs"][alive].copy(), c["n_tracks"][alive].copy(), c["camera_mask"][alive].copy(),
                           c["first_ns"][alive].copy(), c["last_ns"][alive].copy())

    def reported_mask(self, rows: np.ndarray) -> np.ndarray:
        """Per store row, whether flowers() reports it (alive, scored, not left to a neighbouring row)."""
        c = self._cols
        ok = c["alive"][rows].copy()
        thr = self.config.min_flower_mean_score
        if thr > 0:
            ok &= c["score_sum"][rows] >= thr * c["n_obs"][rows]
        return ok & ~self._across_rows(c["gnss_var"][rows], c["lateral_left"][rows], c["lateral_right"][rows])

    def table_of(self, rows: np.ndarray) -> FlowerTable:
        """Copies of the given rows' columns as flowers() hands them out, in the given order."""
        c = self._cols
        return FlowerTable(c["ids"][rows], c["xyz"][rows], np.linalg.inv(unpack_sym2(c["info"][rows])),
                           c["n_obs"][rows], c["n_tracks"][rows], c["camera_mask"][rows],
                           c["first_ns"][rows], c["last_ns"][rows])

    @property
    def row_count(self) -> int:
        """Store rows in use (live and retired flowers): row indices run below it."""
        return self._n

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one store column over the rows in use (alive, ids, xyz, camera_mask, ...)."""
        view = self._cols[name][:self._n]
        view.flags.writeable = False
        return view

    def gnss_var(self) -> np.ndarray:
        """GNSS variance per reported flower (ordered as flowers())."""
        return self._cols["gnss_var"][self._reported()].copy()

    def store_columns(self) -> Dict[str, np.ndarray]:
        """Every live flower (reported or not) as the columns MapState stores, ordered by id."""
        c = self._cols
        alive = np.flatnonzero(c["alive"][:self._n])
        alive = alive[np.argsort(c["ids"][alive], kind="stable")]
        return {"ids": c["ids"][alive].copy(), "xyz": c["xyz"][alive].copy(), "cov": np.linalg.inv(unpack_sym2(c["info"][alive])),
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


class RowChangeLog:
    """The store rows whose columns changed since the last take() (a row touched twice is listed once)."""

    def __init__(self) -> None:
        self._rows: List[int] = []
        self._ranges: List[np.ndarray] = []

    def mark(self, row: int) -> None:
        """Log one changed row."""
        self._rows.append(row)

    def mark_range(self, start: int, stop: int) -> None:
        """Log rows start..stop-1 (bulk insertion)."""
        self._ranges.append(np.arange(start, stop, dtype=np.int64))

    def take(self) -> np.ndarray:
        """The changed rows (sorted, unique) since the previous take; the log starts empty again."""
        rows = np.unique(np.concatenate([np.asarray(self._rows, dtype=np.int64), *self._ranges]))
        self._rows, self._ranges = [], []
        return rows


def _lateral_sides(lateral_m: float) -> Tuple[float, float]:
    """(left, right) lateral columns of one track: its offset on its side, +-inf on the other."""
    return (lateral_m, -np.inf) if lateral_m >= 0 else (np.inf, lateral_m)
