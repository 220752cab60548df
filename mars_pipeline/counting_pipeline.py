"""The whole counting pipeline in one process: detections -> per-camera trackers -> fusion -> flower map.

The same cores as the live nodes (CameraTracker per camera, FlowerMapper), fed in stamp order by the offline
bag counter; the live tracker and fusion nodes give the same answer on the same data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from mars_core.detections import DetectionFrame
from mars_core.rig import RigConfig
from mars_core.stamps import NS_PER_S
from mars_fusion.config import FusionConfig
from mars_fusion.mapper import FlowerMapper
from mars_ros.messages.fusion_inputs import track_frame_from_update
from mars_core.observations import GnssFix, HeadingSample
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig
from mars_tracker.ego_motion import MotionPrior


@dataclass
class CameraTrackLog:
    """What one camera's tracker produced: MOTChallenge rows and counters."""

    mot_rows: List[np.ndarray] = field(default_factory=list)   # (k, 7): frame, id, left, top, w, h, score
    frames: int = 0
    frame_numbers: List[int] = field(default_factory=list)    # MOTChallenge (1-based) number of each frame tracked
    detections: int = 0
    rejected_frames: int = 0
    warnings: List[str] = field(default_factory=list)

    def mot_array(self) -> np.ndarray:
        """All rows (M, 7)."""
        return np.concatenate(self.mot_rows) if self.mot_rows else np.zeros((0, 7))


class CountingPipeline:
    """Per-camera trackers feeding one FlowerMapper; call the on_* methods in stamp order, then finish()."""

    def __init__(self, rig: RigConfig, tracker_config: Optional[TrackerConfig] = None,
                 fusion_config: Optional[FusionConfig] = None, count_interval_s: float = 1.0) -> None:
        self.rig = rig
        self.tracker_config = tracker_config or TrackerConfig()
        self.fusion_config = fusion_config or FusionConfig()
        self.trackers: Dict[str, CameraTracker] = {
            cam.name: CameraTracker(self.tracker_config, camera_model=cam.model) for cam in rig.cameras}
        self.logs: Dict[str, CameraTrackLog] = {name: CameraTrackLog() for name in self.trackers}
        self.mapper = FlowerMapper(self.fusion_config, rig)
        self.motion_prior: Optional[MotionPrior] = None
        self.fixes = 0
        self.fix_status: Dict[int, int] = {}
        self.headings = 0
        self._interval_ns = int(count_interval_s * NS_PER_S)
        self._next_sample_ns: Optional[int] = None
        self.count_series: List[Tuple[int, int, Dict[str, int]]] = []   # (stamp, map count, per-camera tracks)
        self.first_stamp_ns: Optional[int] = None
        self.last_stamp_ns: Optional[int] = None

    def _seen(self, stamp_ns: int) -> None:
        if self.first_stamp_ns is None:
            self.first_stamp_ns = stamp_ns
            self._next_sample_ns = stamp_ns
        self.last_stamp_ns = stamp_ns if self.last_stamp_ns is None else max(self.last_stamp_ns, stamp_ns)
        if self._next_sample_ns is not None and stamp_ns >= self._next_sample_ns:
            self.count_series.append((stamp_ns, self.mapper.count(),
                                      {n: t.confirmed_count for n, t in self.trackers.items()}))
            self._next_sample_ns = stamp_ns + self._interval_ns

    def on_detections(self, frame: DetectionFrame) -> None:
        """One camera frame: track it and hand the tracks to the fusion."""
        if frame.camera_name not in self.trackers:
            raise KeyError(f"detections of camera '{frame.camera_name}', which is not in the rig "
                           f"{list(self.trackers)}")
        log = self.logs[frame.camera_name]
        update = self.trackers[frame.camera_name].update(frame, self.motion_prior)
        log.frames += 1
        log.frame_numbers.append(frame.frame_number + 1)
        log.detections += len(frame.detections)
        log.warnings.extend(update.warnings)
        t = update.tracks
        shown = t.confirmed & (t.detection_index >= 0)
        if np.any(shown):
            xyxy = t.xyxy[shown]
            log.mot_rows.append(np.column_stack([
                np.full(int(shown.sum()), frame.frame_number + 1), t.track_ids[shown].astype(np.float64),
                xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1], t.scores[shown]]))
        track_frame, ended = track_frame_from_update(update)
        self.mapper.add_tracks(track_frame, ended)
        self._seen(frame.stamp_ns)

    def on_fix(self, fix: GnssFix) -> None:
        """One NavSatFix."""
        self.fixes += 1
        self.fix_status[fix.status] = self.fix_status.get(fix.status, 0) + 1
        self.mapper.add_fix(fix)
        self._seen(fix.stamp_ns)

    def on_heading(self, sample: HeadingSample) -> None:
        """One heading sample."""
        self.headings += 1
        self.mapper.add_heading(sample)

    def finish(self) -> int:
        """End of data: close all tracks, consolidate the map; returns the flower count."""
        count = self.mapper.finalize()
        if self.last_stamp_ns is not None:
            self.count_series.append((self.last_stamp_ns, count,
                                      {n: t.confirmed_count for n, t in self.trackers.items()}))
        return count

    def camera_counts(self) -> Dict[str, int]:
        """Confirmed tracks per camera (before cross-camera de-duplication)."""
        return {name: t.count for name, t in self.trackers.items()}
