"""A small synthetic field for the fusion tests: known flowers, a straight drive, the real rig, noisy GNSS.

Flowers are projected through config/mars_rig.yaml with mars_camera's CameraModel; each camera's track id
is the flower index (perfect association), ended when the flower leaves the view.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from mars_core.rig import RigConfig, load_rig
from mars_core.observations import GnssFix, HeadingSample, TrackFrame
from mars_core.tracks import STATUS_TRACKED
from mars_core.geometry.map_frame import MapFrame

RIG_PATH = Path(__file__).resolve().parents[2] / "config" / "mars_rig.yaml"
DATUM = (31.4740, -83.5285, 110.0)


@dataclass
class SyntheticField:
    """Truth and messages of one synthetic drive."""

    rig: RigConfig
    flowers_xyz: np.ndarray                     # (N, 3) map (ENU at DATUM)
    messages: List[Tuple[int, str, Any]]        # (stamp_ns, kind, payload) sorted by stamp
    visible: np.ndarray                         # (N,) bool: seen by some camera in >= 2 frames
    start_ns: int


def rig() -> RigConfig:
    """The project rig."""
    return load_rig(RIG_PATH)


def make_field(n_flowers: int = 12, length_m: float = 8.0, speed: float = 0.5, gnss_sd: float = 0.0,
               gnss_bias: Tuple[float, float] = (0.0, 0.0), box_sd_px: float = 0.0, seed: int = 0,
               flowers_xyz: Optional[np.ndarray] = None, start_ns: int = 1_700_000_000_000_000_000,
               y_offset: float = 0.0, direction: float = 1.0, camera_rate_hz: float = 15.0,
               with_heading: bool = True) -> SyntheticField:
    """Drive along +x (direction=1) or -x over a row of flowers; messages for fixes, headings and tracks."""
    rng = np.random.default_rng(seed)
    r = rig()
    if flowers_xyz is None:
        x = np.sort(rng.uniform(1.5, length_m - 1.5, n_flowers))
        flowers_xyz = np.column_stack([x, rng.normal(0.0, 0.08, n_flowers), rng.uniform(0.5, 1.0, n_flowers)])
    frame = MapFrame(*DATUM)
    duration = length_m / speed
    yaw = 0.0 if direction > 0 else np.pi

    def base_pose(t_s: np.ndarray) -> np.ndarray:
        x0 = 0.0 if direction > 0 else length_m
        return np.column_stack([x0 + direction * speed * t_s, np.full(t_s.shape, y_offset)])

    msgs: List[Tuple[int, str, Any]] = []
    t_fix = np.arange(0.0, duration + 1e-9, 0.1)
    p = base_pose(t_fix)
    ax, ay, az = r.gnss_antenna_xyz
    c, s = np.cos(yaw), np.sin(yaw)
    ant = np.column_stack([p[:, 0] + c * ax - s * ay, p[:, 1] + s * ax + c * ay, np.full(t_fix.shape, az)])
    ant[:, :2] += rng.normal(0.0, gnss_sd, (t_fix.shape[0], 2)) + np.asarray(gnss_bias)
    lat, lon, alt = frame.geodetic_from_map(ant[:, 0], ant[:, 1], ant[:, 2])
    var = max(gnss_sd, 0.01) ** 2
    for i, t in enumerate(t_fix):
        ns = start_ns + int(round(t * 1e9))
        msgs.append((ns, "fix", GnssFix(ns, float(lat[i]), float(lon[i]), float(alt[i]), 2,
                                        (var, 0, 0, 0, var, 0, 0, 0, 4 * var), 2)))
    if with_heading:
        for t in np.arange(0.0, duration + 1e-9, 0.05):
            ns = start_ns + int(round(t * 1e9))
            msgs.append((ns, "heading", HeadingSample(ns, yaw)))
    seen_frames = np.zeros(flowers_xyz.shape[0], int)
    for cam in r.cameras:
        model = cam.model
        t_cam = np.arange(0.0, duration + 1e-9, 1.0 / camera_rate_hz)
        poses = base_pose(t_cam)
        visible_before: set = set()
        for k, t in enumerate(t_cam):
            rel = flowers_xyz[:, :2] - poses[k]
            base = np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], flowers_xyz[:, 2]])
            uv, depth = model.project_base(base)
            size = 0.065 * model.intrinsics.fx / np.maximum(depth, 1e-6)
            inside = (depth > 0) & model.intrinsics.contains(uv, margin=0.0) & np.all(np.isfinite(uv), axis=1)
            idx = np.flatnonzero(inside)
            seen_frames[idx] += 1
            ended = np.array(sorted(visible_before - set(idx.tolist())), dtype=np.uint64)
            visible_before = set(idx.tolist())
            boxes = np.column_stack([uv[idx] + rng.normal(0.0, box_sd_px, (idx.shape[0], 2)), size[idx], size[idx]])
            ns = start_ns + int(round(t * 1e9))
            tf = TrackFrame(cam.name, ns, idx.astype(np.uint64), boxes, np.full(idx.shape[0], 0.9),
                            np.ones(idx.shape[0], bool), np.full(idx.shape[0], STATUS_TRACKED, np.uint8))
            msgs.append((ns, "tracks", (tf, ended)))
    msgs.sort(key=lambda m: (m[0], m[1]))
    return SyntheticField(r, flowers_xyz, msgs, seen_frames >= 2, start_ns)


def feed(mapper: Any, messages: List[Tuple[int, str, Any]]) -> None:
    """Send messages to a FlowerMapper in list order."""
    for _, _, payload in messages:
        mapper.add(payload)


def straight_pose_track(config: Any) -> Any:
    """A PoseTrack of 12 s driving east at 0.5 m/s (RTK-grade fixes at 10 Hz, heading 0)."""
    from mars_fusion.pose import PoseTrack

    pose = PoseTrack(config)
    for k in range(120):
        pose.add_fix(k * 100_000_000, (0.05 * k, 0.0, 0.0), 0.01)
        pose.add_heading(k * 100_000_000, 0.0)
    return pose


def enu_config(**overrides: Any) -> Any:
    """A FusionConfig with the synthetic datum, ENU map."""
    from mars_fusion.config import FusionConfig
    base = dict(datum_latitude=DATUM[0], datum_longitude=DATUM[1], datum_altitude=DATUM[2], map_projection="enu")
    base.update(overrides)
    return FusionConfig(**base)
