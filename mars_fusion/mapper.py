"""FlowerMapper: the ROS-free fusion core fed message by message (by the ROS node or an offline bag counter).

Inputs go through a bounded-delay reorder buffer and are processed in stamp order: fixes and headings feed
the PoseTrack, track frames feed the TrackAccumulator; ended tracks are geolocated once the pose covers
them and associated into the FlowerMap. A stream going back in time starts a new session (bag loop): the
open tracks are closed with the old poses, the pose history is cleared, the map is kept.
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from mars_core.rig import RigConfig
from mars_fusion.config import FusionConfig
from mars_fusion.flower_map.flower_map import FlowerMap
from mars_fusion.flower_map.flower_store import FlowerTable
from mars_fusion.geolocation.track_accumulator import FinishedTrack, TrackAccumulator
from mars_fusion.geolocation.track_position import TrackEstimate, TrackGeolocator
from mars_fusion.map_store import MapState, MapStoreError, load_map, save_map
from mars_core.observations import GnssFix, HeadingSample, TrackFrame
from mars_fusion.plots import PlotIndex, row_segment_ids
from mars_fusion.pose.fix_validation import FixValidator
from mars_fusion.pose.heading import TrueToMapHeading, wrap_angle, yaw_from_compass
from mars_core.geometry.map_frame import MapFrame
from mars_fusion.flower_map.pass_alignment import revisits
from mars_fusion.flower_map.row_swath import RowSwath
from mars_fusion.pose.pose_track import GNSS_QUALITIES, PoseTrack
from mars_fusion.snapshot import MapSnapshot
from mars_fusion.time_ordering import ReorderBuffer, SessionStart

GNSS_STREAM = "__gnss__"
HEADING_STREAM = "__heading__"


class FlowerMapper:
    """Tracks + GNSS + heading in, a de-duplicated geo-located flower map out."""

    def __init__(self, config: FusionConfig, rig: RigConfig, record_associations: bool = False) -> None:
        self.config = config
        # (camera, track id, session, flower id at association) per mapped track, for evaluation and debugging
        self.associations: Optional[List[Tuple[str, int, int, int]]] = [] if record_associations else None
        self.rig = rig
        self.counters: Counter = Counter()
        self.map_frame: Optional[MapFrame] = None
        if config.datum_latitude is not None and config.datum_longitude is not None:
            self.map_frame = MapFrame(config.datum_latitude, config.datum_longitude, config.datum_altitude or 0.0,
                                      config.map_projection)
        self.fix_validator = FixValidator(config.min_fix_status, config.default_fix_sd_m, config.max_fix_sd_m)
        self.pose = PoseTrack(config, rig.gnss_antenna_xyz)
        # True headings wait for the first fix's grid convergence; the newest samples a pose there can use are kept.
        self.heading_to_map = TrueToMapHeading(config.heading_reference, config.max_extrapolation_s +
                                               config.heading_max_age_s + config.heading_smoothing_s)
        self.buffer = ReorderBuffer(config.reorder_delay_s, config.time_jump_back_s)
        self.accumulator = TrackAccumulator(config.track_timeout_s)
        self.geolocator = TrackGeolocator(config, rig)
        self.flower_map = FlowerMap(config, rig.camera_names)
        self.session = 0
        self.plots: Optional[PlotIndex] = None
        self._ended: List[FinishedTrack] = []
        self._path: List[np.ndarray] = []          # decimated robot path of finished sessions
        self._last_path_xy: Optional[np.ndarray] = None
        self._latest_ns = 0
        self._first_ns: Optional[int] = None      # first stamp processed: the origin of the report's times

    # ------------------------------------------------------------------ inputs
    def add_fix(self, fix: GnssFix) -> None:
        """A NavSatFix (any order; processed in stamp order after the reorder delay)."""
        self._process(self.buffer.push(GNSS_STREAM, fix.stamp_ns, fix))

    def add_heading(self, sample: HeadingSample) -> None:
        """A heading sample in the configured convention (REP-103 yaw or compass) and reference (true or map)."""
        self._process(self.buffer.push(HEADING_STREAM, sample.stamp_ns, sample))

    def add_tracks(self, frame: TrackFrame, ended_track_ids: Optional[np.ndarray] = None) -> None:
        """The tracks of one camera frame and the ids of tracks the tracker ended with it."""
        if frame.camera_name not in self.rig.camera_names:
            self.counters["frames_of_unknown_camera"] += 1
            raise ValueError(f"track frame from camera {frame.camera_name!r}, which is not in the rig "
                             f"{list(self.rig.camera_names)}")
        self._process(self.buffer.push(frame.camera_name, frame.stamp_ns, (frame, ended_track_ids)))

    def add(self, item: Union[GnssFix, HeadingSample, Tuple[TrackFrame, Optional[np.ndarray]]]) -> None:
        """Any input by its type: a GnssFix, a HeadingSample or a (TrackFrame, ended track ids) pair."""
        if isinstance(item, GnssFix):
            self.add_fix(item)
        elif isinstance(item, HeadingSample):
            self.add_heading(item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], TrackFrame):
            self.add_tracks(*item)
        else:
            raise TypeError(f"FlowerMapper.add takes a GnssFix, a HeadingSample or (TrackFrame, ended ids), "
                            f"got {type(item).__name__}")

    def flush(self) -> None:
        """Process everything buffered and map every ended track (open tracks stay open)."""
        self._process(self.buffer.flush())
        self._map_all_ended()

    def finalize(self) -> int:
        """End of data: flush, end all open tracks, map them and consolidate; returns the flower count."""
        self.flush()
        self._ended.extend(self.accumulator.finish_all())
        self._map_all_ended()
        self.flower_map.settle_all()
        self.flower_map.consolidate()
        return self.count()

    # ------------------------------------------------------------------ processing
    def _process(self, released: list) -> None:
        if not released:
            return
        if self._first_ns is None:
            self._first_ns = released[0].stamp_ns
        for msg in released:
            payload = msg.payload
            if isinstance(payload, SessionStart):
                self._start_session()
            elif msg.stream == GNSS_STREAM:
                self._on_fix(payload)
            elif msg.stream == HEADING_STREAM:
                self._on_heading(payload)
            else:
                frame, ended = payload
                self._ended.extend(self.accumulator.add(frame, ended))
                self._latest_ns = max(self._latest_ns, frame.stamp_ns)
        self._ended.extend(self.accumulator.expire(self._latest_ns))
        self._map_ended(force=False)

    def _on_fix(self, fix: GnssFix) -> None:
        sd = self.fix_validator.horizontal_sd(fix)
        if sd is None:
            return
        if self.map_frame is None:
            self.map_frame = MapFrame(fix.latitude, fix.longitude, fix.altitude, self.config.map_projection)
        x, y, z = self.map_frame.map_from_geodetic(np.array([fix.latitude]), np.array([fix.longitude]),
                                                   np.array([fix.altitude]))
        self.pose.add_fix(fix.stamp_ns, (float(x[0]), float(y[0]), float(z[0])), sd)
        for stamp_ns, yaw in self.heading_to_map.at_fix(self.map_frame, fix.latitude, fix.longitude):
            self.pose.add_heading(stamp_ns, yaw)
        self._latest_ns = max(self._latest_ns, fix.stamp_ns)

    def _on_heading(self, sample: HeadingSample) -> None:
        if not math.isfinite(sample.heading):
            self.counters["rejected_nan_heading"] += 1
            return
        yaw = float(yaw_from_compass(sample.heading)) if self.config.heading_convention == "compass" else sample.heading
        for stamp_ns, map_yaw in self.heading_to_map.convert(sample.stamp_ns, yaw + self.config.heading_offset_rad):
            self.pose.add_heading(stamp_ns, float(wrap_angle(map_yaw)))

    def _map_all_ended(self) -> None:
        """Map every ended track now, including those waiting out the plain-GNSS association delay."""
        self._map_ended(force=True)
        self._record(self.flower_map.release_tracks(everything=True))

    def _map_ended(self, force: bool) -> None:
        if not self._ended:
            return
        last_fix = self.pose.last_stamp_ns
        if force:
            ready, self._ended = self._ended, []
        else:
            if last_fix is None:
                return
            # Wait until fixes cover the track's end (plus half a smoothing window) so poses interpolate.
            horizon = last_fix - int(self.pose.smoothing_window_s * 0.5e9)
            ready = [t for t in self._ended if t.stamps_ns[-1] <= horizon]
            if not ready:
                return
            self._ended = [t for t in self._ended if t.stamps_ns[-1] > horizon]
        if self.pose.fix_count == 0:
            self.counters["tracks_dropped_no_gnss"] += len(ready)
            return
        estimates = self.geolocator.geolocate(ready, self.pose, self.session)
        self.add_estimates(estimates)

    def add_estimates(self, estimates: List[TrackEstimate]) -> None:
        """Queue geolocated tracks for the map (plain GNSS: after association_delay_s, strongest first)."""
        for est in sorted(estimates, key=lambda e: e.t_last):
            self.flower_map.defer_track(est)
        self._record(self.flower_map.release_tracks())

    def _record(self, associated: List[Tuple[TrackEstimate, int]]) -> None:
        for est, fid in associated:
            if self.associations is not None:
                self.associations.append((est.camera, est.track_id, est.session, fid))
            self.counters["observations_mapped"] += est.n_obs

    def _start_session(self) -> None:
        # Close the old session's tracks with the old poses before forgetting them.
        self._ended.extend(self.accumulator.finish_all())
        self._map_all_ended()
        self._keep_path()
        self.pose.clear()
        self.heading_to_map.clear()
        self.flower_map.settle_all()
        self.session += 1
        self.counters["sessions"] += 1

    def _keep_path(self) -> None:
        path = self.pose.path()
        if path.shape[0]:
            self._path.append(_decimate(path[:, :2], self.config.path_decimation_m))

    # ------------------------------------------------------------------ outputs
    def count(self) -> int:
        """De-duplicated flowers in the map."""
        return self.flower_map.count()

    def flowers(self) -> FlowerTable:
        """The flowers (map frame)."""
        return self.flower_map.flowers()

    def path_xy(self) -> np.ndarray:
        """The decimated robot path (M, 2) in map of all sessions."""
        parts = list(self._path)
        current = self.pose.path()
        if current.shape[0]:
            parts.append(_decimate(current[:, :2], self.config.path_decimation_m))
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    def set_plots(self, source: Union[str, Path, dict]) -> None:
        """Plot polygons (GeoJSON) for per-plot counts; needs the datum (configured or first fix)."""
        if self.map_frame is None:
            raise ValueError("plots need the map datum: configure fusion.datum_latitude/longitude or add a fix first")
        self.plots = PlotIndex.from_geojson(source, self.map_frame, self.config.plot_id_property)

    def snapshot(self) -> MapSnapshot:
        """Flowers with lat/lon/alt and plot (or row-segment) ids, path and datum."""
        table = self.flowers()
        path = self.path_xy()
        if self.map_frame is None:
            empty = np.zeros(len(table))
            return MapSnapshot(table, empty, empty, empty, np.full(len(table), "", object), self.rig.camera_names,
                               path, (math.nan, math.nan, math.nan), self.config.map_projection)
        return self.snapshot_of(table, path)

    def snapshot_of(self, table: FlowerTable, path: np.ndarray) -> MapSnapshot:
        """A MapSnapshot of some flowers (lat/lon/alt and plot ids computed for them) with the given path."""
        if self.map_frame is None:
            raise ValueError("a snapshot with geodetic positions needs the map datum (a good fix or a configured one)")
        lat, lon, alt = self.map_frame.geodetic_from_map(table.xyz[:, 0], table.xyz[:, 1], table.xyz[:, 2])
        mf = self.map_frame
        return MapSnapshot(table, lat, lon, alt, self.plot_ids(table.xyz[:, :2], path), self.rig.camera_names, path,
                           (mf.latitude, mf.longitude, mf.altitude), mf.projection)

    def plot_ids(self, xy: np.ndarray, path: np.ndarray) -> np.ndarray:
        """Plot id per map point (N, 2): from the plot polygons, else the row segment along the path."""
        if self.plots is not None:
            return self.plots.assign(xy)
        return row_segment_ids(xy, path, self.config.row_segment_length_m)

    def gnss_report(self) -> Dict[str, Any]:
        """What the map's positions rest on, by name: the GNSS regime, the share of fixes per regime (no fix
        included), dropouts bridged (dead-reckoned), the longest gap and the gaps not bridged, the pass-to-pass
        offsets estimated, and warnings a user should read."""
        pose = self.pose.counts()
        per = {q: int(pose.get(f"fixes_{q}", 0)) for q in GNSS_QUALITIES}
        per["no_fix"] = int(self.fix_validator.rejected.get("no_fix", 0))
        total = max(sum(per.values()), 1)
        usable = {q: n for q, n in per.items() if q != "no_fix" and n}
        quality = max(usable, key=lambda q: usable[q]) if usable else "no_fix"
        shares = {q: round(n / total, 4) for q, n in per.items()}
        origin = self._first_ns or 0
        passes = [dict(r, from_s=round((r["from_ns"] - origin) * 1e-9, 1), to_s=round((r["to_ns"] - origin) * 1e-9, 1),
                       earlier_pass_s=round((r["earlier_pass_ns"] - origin) * 1e-9, 1))
                  for r in revisits(self.flower_map.pass_offsets.history)]
        warnings = []
        sd = self.pose.median_reported_sd()
        names = {"rtk_fixed": "RTK fixed", "rtk_float": "RTK float", "gnss": "plain GNSS", "no_fix": "no fix"}
        if quality != "rtk_fixed" and usable:
            warnings.append(f"GNSS was {names[quality]} for {100 * shares[quality]:.0f} % of the fixes: flower positions "
                            f"are good to about {sd * 100:.0f} cm (1 sd per axis), not the 2 cm of RTK fixed")
        gaps = self.pose.gap_summary(self._latest_ns)
        gap_report = {"dropouts_bridged": gaps.bridged, "dropouts_dead_reckoned": gaps.dead_reckoned,
                      "longest_gap_s": round(gaps.longest_s, 1), "gaps_not_bridged": gaps.not_bridged}
        if per["no_fix"] or gaps.bridged or gaps.not_bridged:
            warnings.append(f"{100 * shares['no_fix']:.1f} % of the fixes had no fix; {gaps.bridged} dropouts were "
                            f"bridged ({gaps.dead_reckoned} dead-reckoned on the heading, positions there good to "
                            f"about {100 * self.config.dead_reckoning_sd_mps:g} cm per s from the nearest fix), "
                            f"the longest gap {gaps.longest_s:.1f} s")
        if gaps.not_bridged:
            warnings.append(f"{gaps.not_bridged} GNSS gaps were not bridged (longer than dead_reckoning_max_gap_s = "
                            f"{self.config.dead_reckoning_max_gap_s:g} s, without a heading off a straight line, or "
                            f"after the last fix for more than dead_reckoning_max_extrapolation_s = "
                            f"{self.config.dead_reckoning_max_extrapolation_s:g} s): the flowers seen during them "
                            f"are not in the map")
        swath = self.flower_map.row_swath()
        left_to_rows = self.flower_map.outside_own_row_count()
        if left_to_rows:
            warnings.append(f"{left_to_rows} flowers were seen only from a neighbouring row (beyond the own row's "
                            f"swath {_swath_text(swath)}): with {names[quality]} passes over neighbouring rows "
                            "cannot be registered, so they are counted only by the pass over their own row "
                            "(drive every row whose flowers should be counted)")
        return {"quality": quality, "quality_name": names[quality], "fix_shares": shares,
                "row_swath_m": None if swath is None else swath.as_dict(),
                "flowers_left_to_neighbouring_row": left_to_rows,
                "median_reported_sd_m": round(sd, 4), **gap_report, "revisits": passes, "warnings": warnings}

    def counts_per_camera(self) -> Dict[str, int]:
        """Flowers each camera contributed to (after de-duplication)."""
        masks = self.flower_map.flowers().camera_mask
        return {name: int(np.count_nonzero(masks >> i & 1)) for i, name in enumerate(self.rig.camera_names)}

    def diagnostics(self) -> Dict[str, float]:
        """Counters of every stage (rejected fixes by reason, outliers, jumps, late messages, merges...)."""
        out: Dict[str, float] = {"flowers": self.count(), "session": self.session,
                                 "open_tracks": len(self.accumulator), "buffered_messages": len(self.buffer),
                                 "waiting_tracks": len(self._ended) + self.flower_map.waiting_tracks}
        for prefix, counter in (("fix_", self.fix_validator.counts()), ("pose_", self.pose.counts()),
                                ("buffer_", self.buffer.counters), ("tracks_", self.accumulator.counters),
                                ("geo_", self.geolocator.counters), ("map_", self.flower_map.counters),
                                ("", self.counters)):
            for k, v in dict(counter).items():
                out[prefix + k] = v
        return out

    # ------------------------------------------------------------------ durability
    def state(self) -> MapState:
        """The resumable state (flowers, datum, path)."""
        if self.map_frame is None:
            raise MapStoreError("nothing to save yet: no datum (no good fix and none configured)")
        mf = self.map_frame
        arrays = self.flower_map.store_columns()
        arrays["path_xy"] = self.path_xy()
        return MapState((mf.latitude, mf.longitude, mf.altitude), mf.projection, self.rig.camera_names,
                        self.flower_map.next_id, arrays, {k: int(v) for k, v in self.counters.items()})

    def save(self, path: Union[str, Path]) -> Path:
        """Write the map atomically (call periodically and on shutdown)."""
        return save_map(self.state(), path)

    def restore(self, state: MapState) -> None:
        """Continue from a saved map (before any input): same datum, cameras, flowers and ids."""
        if self.count() or self.pose.fix_count:
            raise MapStoreError("restore() must be called before any input")
        if tuple(state.camera_names) != tuple(self.rig.camera_names):
            raise MapStoreError(f"saved map has cameras {list(state.camera_names)}, the rig has "
                                f"{list(self.rig.camera_names)}")
        self.map_frame = MapFrame(*state.datum, projection=state.projection)
        a = state.arrays
        self.flower_map.insert_many(a["xyz"], a["cov"], a["n_obs"], a["first_ns"], a["last_ns"], a["camera_mask"],
                                    ids=a["ids"], n_tracks=a["n_tracks"], gnss_var=a["gnss_var"],
                                    score_sum=a["score_sum"])
        self.flower_map.next_id = max(self.flower_map.next_id, state.next_id)
        if a["path_xy"].shape[0]:
            self._path.append(a["path_xy"])
        self.counters["resumed_flowers"] += len(a["ids"])
        self.counters.update({k: v for k, v in state.counters.items() if k not in self.counters})

    @classmethod
    def resume(cls, config: FusionConfig, rig: RigConfig, path: Union[str, Path]) -> "FlowerMapper":
        """A mapper continuing from the map file at path (a fresh one if the file does not exist)."""
        mapper = cls(config, rig)
        state = load_map(path)
        if state is not None:
            mapper.restore(state)
        return mapper


def _swath_text(swath: Optional[RowSwath]) -> str:
    """'left 0.48 m, right 0.49 m' (a side without a neighbouring row left out)."""
    if swath is None:
        return "unknown"
    sides = [f"{name} {value:.2f} m" for name, value in (("left", swath.left_m), ("right", swath.right_m))
             if value is not None]
    return ", ".join(sides)


def _decimate(xy: np.ndarray, spacing: float) -> np.ndarray:
    """Points at least spacing apart along the path (first and last kept)."""
    if xy.shape[0] <= 2:
        return xy.copy()
    keep = [0]
    last = xy[0]
    for i in range(1, xy.shape[0] - 1):
        if np.hypot(*(xy[i] - last)) >= spacing:
            keep.append(i)
            last = xy[i]
    keep.append(xy.shape[0] - 1)
    return xy[keep].copy()
