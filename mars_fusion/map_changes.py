"""What changed in the reported flower map between two publications: a live consumer keeps its copy of the map
in step at a cost per publication that follows what changed, not the size of the map.

The flower store logs the rows it writes (RowChangeLog); MapChangeTracker turns them into MapChanges: the
flowers that are new or changed (whole), the ids that left the map (merged into another flower, or no longer
reported), the counts per camera and per plot kept up to date incrementally, and the marker tiles (squares of
MARKER_TILE_M) whose content changed, each with every flower now inside it, so that a map display replaces
only those tiles. What the consumers were last given is kept per store row (reported, camera mask, plot id,
tile), so a flower that stops being reported without being written (the own row's swath moved) is found too.

A full publication hands out the whole map. Plot ids of row segments depend on the robot path, which grows: a
flower that did not change keeps the plot id it was published with until the next full publication, which
first lists the flowers whose plot id moved as changes, so that the changes alone always rebuild the map exactly.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from mars_fusion.flower_map.flower_store import FlowerTable
from mars_fusion.snapshot import MapSnapshot

if TYPE_CHECKING:
    from mars_fusion.mapper import FlowerMapper

MARKER_TILE_M = 5.0   # side of a marker tile (m): a changed flower costs republishing the flowers of its tile


@dataclass(frozen=True)
class MapChanges:
    """One publication: changed flowers (full: all), removed ids, counts and the content of the changed tiles."""

    sequence: int                   # 1, 2, ... per tracker
    full: bool                      # True: `changed` is the whole map and `removed_ids` is empty
    changed: MapSnapshot            # new or changed flowers, ordered by id (the path is the whole robot path)
    removed_ids: np.ndarray         # int64 ids no longer reported
    merged_into: np.ndarray         # int64 per removed id: the live flower it was merged into (0: not merged)
    total: int                      # reported flowers after this publication
    per_camera: Dict[str, int]      # reported flowers each camera contributed to
    per_plot: Dict[str, int]        # reported flowers per plot or row segment (plots with none left out)
    tiles: Dict[int, Tuple[np.ndarray, np.ndarray]]   # tile key -> (xyz (K, 3), first camera (K,)): every flower
    #                                                   in a tile that changed (K = 0: the tile is now empty)


def tile_keys(xy: np.ndarray, tile_m: float) -> np.ndarray:
    """int64 key per map point (N, 2) of the tile square containing it (x index high 32 bits, y low)."""
    cells = np.floor(np.asarray(xy, dtype=np.float64).reshape(-1, 2) / tile_m).astype(np.int64)
    return (cells[:, 0] << 32) | (cells[:, 1] & 0xFFFFFFFF)


def tile_origin(key: int, tile_m: float) -> Tuple[float, float]:
    """Lower-left corner (m) of the tile with this key."""
    ix = key >> 32
    iy = key & 0xFFFFFFFF
    iy = iy - (1 << 32) if iy >= 1 << 31 else iy
    return ix * tile_m, iy * tile_m


def first_camera(masks: np.ndarray) -> np.ndarray:
    """Rig index of the lowest camera bit of each mask (-1 for none): the colour a map display gives a flower."""
    masks = np.asarray(masks, dtype=np.int64)
    lowest = masks & -masks
    return np.where(lowest > 0, np.log2(np.maximum(lowest, 1)).astype(np.int64), -1)


class MapChangeTracker:
    """Turns the store's change log into MapChanges; the first publication is full."""

    def __init__(self, mapper: "FlowerMapper", tile_m: float = MARKER_TILE_M) -> None:
        if not tile_m > 0:
            raise ValueError(f"tile size must be positive, got {tile_m}")
        self.mapper = mapper
        self.tile_m = float(tile_m)
        self.store = mapper.flower_map
        self.log = self.store.track_changes()
        self.sequence = 0
        n_cameras = len(mapper.rig.camera_names)
        self._camera_counts = np.zeros(n_cameras, dtype=np.int64)
        self._plot_counts: Counter = Counter()
        self._total = 0
        self._swath_key: Optional[Tuple[Optional[float], Optional[float]]] = None
        # What the consumers were given, per store row.
        self._published = np.zeros(0, dtype=bool)
        self._mask = np.zeros(0, dtype=np.int64)
        self._plot = np.zeros(0, dtype=object)
        self._tile = np.zeros(0, dtype=np.int64)
        self._fulls = 0

    # ------------------------------------------------------------------ state per row
    def _grow(self) -> None:
        n = self.store.row_count
        if n <= self._published.shape[0]:
            return
        cap = max(n, 2 * self._published.shape[0], 1024)
        extra = cap - self._published.shape[0]
        self._published = np.concatenate([self._published, np.zeros(extra, dtype=bool)])
        self._mask = np.concatenate([self._mask, np.zeros(extra, dtype=np.int64)])
        self._plot = np.concatenate([self._plot, np.full(extra, "", dtype=object)])
        self._tile = np.concatenate([self._tile, np.zeros(extra, dtype=np.int64)])

    def _swath_moved(self) -> bool:
        swath = self.store.row_swath()
        key = None if swath is None else (swath.left_m, swath.right_m)
        moved = key != self._swath_key
        self._swath_key = key
        return moved

    # ------------------------------------------------------------------ publications
    def publish(self, full: bool = False) -> List[MapChanges]:
        """The changes since the previous publication; with full=True (and always the first time) followed by
        the whole map. Needs the map datum."""
        self._grow()
        full = full or self.sequence == 0
        n = self.store.row_count
        rows = self.log.take()
        rows = rows[rows < n]
        if self._swath_moved() and self._fulls:
            # The own row's swath decides which flowers are reported: re-check every live flower (rare: the
            # swath is re-derived as the number of tracks grows by a tenth).
            every = np.flatnonzero(self.store.column("alive") | self._published[:n])
            rows = np.union1d(rows, every[self.store.reported_mask(every) != self._published[every]])
        path = self.mapper.path_xy()
        if not full:
            return [self._emit(rows, path, None)]
        every = np.flatnonzero(self.store.column("alive") | self._published[:n])
        reported = self.store.reported_mask(every)
        shown = every[reported]
        plots = self.mapper.plot_ids(self.store.column("xyz")[shown, :2], path)
        moved = shown[self._published[shown] & (self._plot[shown] != plots)]
        flipped = every[reported != self._published[every]]
        out = []
        if self._fulls:
            # Flowers whose plot id moved with the path, or whose status changed, go out as changes first.
            rows = np.union1d(np.union1d(rows, moved), flipped)
            out.append(self._emit(rows, path, (shown, plots)))
        else:
            self._emit_state(shown, plots)
        self._fulls += 1
        out.append(self._full(shown, path))
        return out

    def _emit(self, rows: np.ndarray, path: np.ndarray,
              known_plots: Optional[Tuple[np.ndarray, np.ndarray]]) -> MapChanges:
        """Changes of the given rows (reported now or before) against what the consumers were given."""
        store = self.store
        reported = store.reported_mask(rows) if rows.size else np.zeros(0, dtype=bool)
        was = self._published[rows]
        shown = rows[reported]
        gone = rows[was & ~reported]
        ids = store.column("ids")
        shown = shown[np.argsort(ids[shown], kind="stable")]
        gone = gone[np.argsort(ids[gone], kind="stable")]
        old_tiles = self._tile[rows[was]]
        self._retract(rows[was])
        table = store.table_of(shown)
        if known_plots is None:
            plots = self.mapper.plot_ids(table.xyz[:, :2], path)
        else:
            # The full publication computed every reported row's plot id (rows ascending) already.
            known_rows, known = known_plots
            plots = known[np.searchsorted(known_rows, shown)]
        self._admit(shown, plots)
        removed_ids = ids[gone].astype(np.int64)
        alive = store.column("alive")
        merged = np.array([store.current_id(int(i)) if not alive[r] else 0
                           for i, r in zip(removed_ids.tolist(), gone.tolist())], dtype=np.int64)
        merged[merged == removed_ids] = 0
        dirty = np.union1d(old_tiles, self._tile[shown])
        self.sequence += 1
        return MapChanges(self.sequence, False, self._snapshot(table, plots, path),
                          removed_ids, merged, self._total, self._per_camera(), self._per_plot(),
                          self._tile_contents(dirty))

    def _full(self, shown: np.ndarray, path: np.ndarray) -> MapChanges:
        """The whole map as the consumers now have it."""
        ids = self.store.column("ids")
        shown = shown[np.argsort(ids[shown], kind="stable")]
        table = self.store.table_of(shown)
        keys = self._tile[shown]
        order = np.argsort(keys, kind="stable")
        keys_sorted = keys[order]
        starts = np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]]) if keys.size else np.zeros(0, int)
        ends = np.r_[starts[1:], keys.size].astype(np.int64) if keys.size else np.zeros(0, int)
        cams = first_camera(table.camera_mask)
        tiles = {int(keys_sorted[s]): (table.xyz[order[s:e]], cams[order[s:e]])
                 for s, e in zip(starts.tolist(), ends.tolist())}
        self.sequence += 1
        return MapChanges(self.sequence, True, self._snapshot(table, self._plot[shown], path),
                          np.zeros(0, np.int64), np.zeros(0, np.int64), self._total, self._per_camera(),
                          self._per_plot(), tiles)

    # ------------------------------------------------------------------ bookkeeping
    def _retract(self, rows: np.ndarray) -> None:
        """Take rows out of the published state (and the counts)."""
        if not rows.size:
            return
        masks = self._mask[rows]
        for i in range(self._camera_counts.shape[0]):
            self._camera_counts[i] -= int(np.count_nonzero(masks >> i & 1))
        self._plot_counts.subtract(self._plot[rows].tolist())
        self._total -= int(rows.size)
        self._published[rows] = False

    def _admit(self, rows: np.ndarray, plots: np.ndarray) -> None:
        """Put rows into the published state with their current columns."""
        if not rows.size:
            return
        masks = self.store.column("camera_mask")[rows]
        for i in range(self._camera_counts.shape[0]):
            self._camera_counts[i] += int(np.count_nonzero(masks >> i & 1))
        self._plot_counts.update(plots.tolist())
        self._total += int(rows.size)
        self._published[rows] = True
        self._mask[rows] = masks
        self._plot[rows] = plots
        self._tile[rows] = tile_keys(self.store.column("xyz")[rows, :2], self.tile_m)

    def _emit_state(self, shown: np.ndarray, plots: np.ndarray) -> None:
        """The first publication: the published state is the whole map."""
        n = self.store.row_count
        self._retract(np.flatnonzero(self._published[:n]))
        self._admit(shown, plots)

    def _per_camera(self) -> Dict[str, int]:
        return {name: int(v) for name, v in zip(self.mapper.rig.camera_names, self._camera_counts.tolist())}

    def _per_plot(self) -> Dict[str, int]:
        return {str(k): int(v) for k, v in sorted(self._plot_counts.items()) if v > 0}

    def _snapshot(self, table: FlowerTable, plots: np.ndarray, path: np.ndarray) -> MapSnapshot:
        frame = self.mapper.map_frame
        if frame is None:
            raise ValueError("map changes need the map datum (a good fix or a configured one)")
        lat, lon, alt = frame.geodetic_from_map(table.xyz[:, 0], table.xyz[:, 1], table.xyz[:, 2])
        return MapSnapshot(table, lat, lon, alt, np.asarray(plots, dtype=object), self.mapper.rig.camera_names, path,
                           (frame.latitude, frame.longitude, frame.altitude), frame.projection)

    def _tile_contents(self, keys: np.ndarray) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
        """Every published flower in each tile (from the store's grid: cost by the tiles' content)."""
        out: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        xyz = self.store.column("xyz")
        half = 0.5 * self.tile_m
        for key in keys.tolist():
            x0, y0 = tile_origin(key, self.tile_m)
            cand = self.store.grid.query(x0 + half, y0 + half, half * 1.5)
            cand = cand[self._published[cand] & (self._tile[cand] == key)] if cand.size else cand
            cand = np.sort(cand)
            out[int(key)] = (xyz[cand].copy(), first_camera(self._mask[cand]))
        return out
