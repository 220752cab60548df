"""``simulate(preset_or_config, seed) -> SimulationResult``: a whole field pass in memory, deterministic by seed.

Every random component draws from its own stream spawned from the seed (world, drive, GNSS, heading,
one per camera), so adding a camera or changing the GNSS model leaves the flowers unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Union
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from mars_core.rig import RigConfig
from mars_sim.config import SimConfig
from mars_sim.detection_sim import CameraStream, simulate_camera
from mars_sim.geodesy import MapDatum
from mars_sim.presets import resolve_config
from mars_sim.sensors import GnssFixes, HeadingSamples, simulate_gnss, simulate_heading
from mars_sim.trajectory import RobotPoses, Trajectory, build_trajectory
from mars_sim.world import FlowerField, generate_field

POSE_RATE_HZ = 50.0


@dataclass(frozen=True)
class SimulationResult:
    """Everything simulated: the truth (flowers, robot poses) and what the sensors reported."""

    config: SimConfig
    seed: int
    rig: RigConfig
    datum: MapDatum
    field: FlowerField
    trajectory: Trajectory
    robot_poses: RobotPoses              # true base_link poses at POSE_RATE_HZ
    gnss: GnssFixes
    heading: Optional[HeadingSamples]    # None when the heading source is 'none'
    cameras: Dict[str, CameraStream]     # by camera name, in rig order
    start_time_ns: int
    end_time_ns: int

    def flower_latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude of every true flower."""
        lat, lon, _ = self.datum.geodetic_from_map(self.field.xyz[:, 0], self.field.xyz[:, 1], self.field.xyz[:, 2])
        return lat, lon

    def observed_flower_ids(self) -> np.ndarray:
        """Sorted ids of flowers visible (in view, unoccluded) in at least one frame of any camera."""
        parts = [s.true_boxes.flower_id for s in self.cameras.values()]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    @property
    def simulated_s(self) -> float:
        """Seconds simulated: the whole drive, or less when config.duration_s cut it."""
        return (self.end_time_ns - self.start_time_ns) * 1e-9

    @property
    def frame_count(self) -> int:
        """Camera frames over all cameras."""
        return sum(len(s.frames) for s in self.cameras.values())


def simulate(preset_or_config: Union[str, Path, SimConfig, Mapping[str, Any]], seed: int = 0) -> SimulationResult:
    """Simulate a field pass: preset name, YAML path, plain dict or SimConfig, and a seed."""
    config = resolve_config(preset_or_config)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rig = config.rig_config()
    streams = np.random.SeedSequence([int(seed), 0x4D415253]).spawn(5 + len(rig.cameras))
    rng_world, rng_drive, rng_gnss, rng_heading, rng_basis = (np.random.default_rng(s) for s in streams[:5])
    datum = MapDatum(config.datum.latitude, config.datum.longitude, config.datum.altitude)
    field = generate_field(config.field, config.flowers, rng_world, config.detection.occlusion_base,
                           config.detection.occlusion_depth_gain, config.detection.distractors_per_m)
    trajectory = build_trajectory(config.field, config.drive, rng_drive)
    start = trajectory.start_time_ns
    end = start + int(round(trajectory.duration_s * 1e9))
    if config.duration_s is not None:
        end = min(end, start + int(round(config.duration_s * 1e9)))
    pose_stamps = np.arange(start, end + 1, int(round(1e9 / POSE_RATE_HZ)), dtype=np.int64)
    gnss = simulate_gnss(config.gnss, trajectory, rig.gnss_antenna_xyz, datum, rng_gnss, end)
    heading = simulate_heading(config.heading, trajectory, datum, rng_heading, end)
    dim = field.latent.shape[1]
    view_basis = rng_basis.normal(size=(3, dim)) / np.sqrt(dim)
    tree = cKDTree(field.xyz[:, :2].reshape(-1, 2))
    distractor_tree = cKDTree(field.distractor_xyz[:, :2].reshape(-1, 2))
    cameras: Dict[str, CameraStream] = {}
    for cam, ss in zip(rig.cameras, streams[5:]):
        cameras[cam.name] = simulate_camera(cam, config.timing(cam.name), field, tree, distractor_tree, trajectory, end,
                                            config.detection, config.flowers.height_range_m, view_basis,
                                            np.random.default_rng(ss))
    return SimulationResult(config, int(seed), rig, datum, field, trajectory, trajectory.poses(pose_stamps), gnss,
                            heading, cameras, start, end)
