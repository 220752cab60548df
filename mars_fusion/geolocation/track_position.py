"""Track observations -> map rays -> one robust 3-D position per track, with its covariance.

Each observation's pixel becomes a ray in base_link (mars_core.geometry.CameraModel.rays_base), then in
map with the robot pose at its stamp. A track's position is the point closest to all its rays in an
iteratively reweighted (Huber) least-squares sense, regularised by the canopy-height prior: motion and
other views triangulate the flower height instead of assuming one plane. The covariance combines the
fit (number of views, their geometry, residual spread), the heading error at the viewing distance and the
GNSS covariance (not reduced by the number of views: GNSS errors are correlated over a track).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mars_core.rig import RigConfig
from mars_fusion.config import FusionConfig
from mars_fusion.geolocation.track_accumulator import FinishedTrack
from mars_fusion.pose.dead_reckoning import VIEW_DRIFT_S
from mars_fusion.pose.pose_track import PoseTrack

HUBER_K = 2.5
BORDER_MARGIN_PX = 2.0
CLIPPED_BOX_SIGMA_FACTOR = 10.0
IRLS_ITERATIONS = 4


@dataclass
class TrackEstimate:
    """One geolocated track: position (3,), horizontal covariances and the map rays of its observations."""

    camera: str
    camera_index: int
    track_id: int
    session: int
    xyz: np.ndarray
    cov_meas: np.ndarray          # (2, 2) fit + heading part, m^2
    gnss_var: float               # absolute GNSS horizontal variance per axis, m^2
    stamps_ns: np.ndarray         # (k,)
    ray_origins: np.ndarray       # (k, 3) camera centres in map
    ray_dirs: np.ndarray          # (k, 3) unit directions in map
    ray_sigma: np.ndarray         # (k,) sd (m) of each ray's perpendicular error
    ground_z: float               # map height of the ground under the track
    z_var: float = 0.0            # variance (m^2) of the fitted height (fit part)
    score_sum: float = 0.0        # sum of the detection scores of the observations
    embedding: Optional[np.ndarray] = None
    embedding_model_id: str = ""
    lateral_m: float = 0.0        # median lateral offset from the robot centre line (base_link y)
    ray_sigma_pixel: Optional[np.ndarray] = None   # (k,) sd (m) of each ray's error from pixel noise alone
    extra: Dict[str, float] = field(default_factory=dict)
    yaw: float = float("nan")     # mean robot heading (rad, map) while the track was seen: which way the pass drove

    @property
    def n_obs(self) -> int:
        """Observations supporting the estimate."""
        return int(self.stamps_ns.shape[0])

    @property
    def t_first(self) -> int:
        """First observation stamp (ns)."""
        return int(self.stamps_ns[0])

    @property
    def t_last(self) -> int:
        """Last observation stamp (ns)."""
        return int(self.stamps_ns[-1])

    @property
    def cov(self) -> np.ndarray:
        """Absolute horizontal covariance (2, 2): fit + heading + GNSS."""
        return self.cov_meas + self.gnss_var * np.eye(2)


def _rotate_z(v: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], axis=1)


def triangulate_rays(origins: np.ndarray, dirs: np.ndarray, sigma: np.ndarray, starts: np.ndarray,
                     prior_z: np.ndarray, prior_sd: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group of rays (groups start at ``starts``): robust closest point (G, 3), its covariance (G, 3, 3)
    and the normalised residual of every ray (N,). A Gaussian prior on z regularises near-parallel rays."""
    n = origins.shape[0]
    groups = starts.shape[0]
    group_of = np.repeat(np.arange(groups), np.diff(np.append(starts, n)))
    proj = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]          # (N, 3, 3)
    proj_o = np.einsum("nij,nj->ni", proj, origins)
    inv_var = 1.0 / (sigma * sigma)
    weight = np.ones(n)
    prior_a = np.zeros((3, 3))
    prior_a[2, 2] = 1.0 / (prior_sd * prior_sd)
    x = np.zeros((groups, 3))
    a: np.ndarray = np.zeros((groups, 3, 3))
    resid = np.zeros(n)
    for _ in range(IRLS_ITERATIONS):
        w = weight * inv_var
        a = np.add.reduceat(proj * w[:, None, None], starts, axis=0) + prior_a
        b = np.add.reduceat(proj_o * w[:, None], starts, axis=0)
        b[:, 2] += prior_z / (prior_sd * prior_sd)
        x = np.linalg.solve(a, b[:, :, None])[:, :, 0]
        diff = x[group_of] - origins
        perp = diff - np.sum(diff * dirs, axis=1, keepdims=True) * dirs
        resid = np.linalg.norm(perp, axis=1) / sigma
        weight = np.minimum(1.0, HUBER_K / np.maximum(resid, 1e-12))
    cov = np.linalg.inv(a)
    # Inflate by the residual spread when it is larger than the noise model says (chi2 per ray > 1).
    spread = np.add.reduceat(weight * resid * resid, starts) / np.maximum(np.add.reduceat(weight, starts), 1.0)
    cov = cov * np.maximum(1.0, spread)[:, None, None]
    return x, cov, resid


class TrackGeolocator:
    """Turns finished tracks into TrackEstimates, vectorised over all observations of a batch."""

    def __init__(self, config: FusionConfig, rig: RigConfig) -> None:
        self.config = config
        self.rig = rig
        self.camera_index = {name: i for i, name in enumerate(rig.camera_names)}
        self.counters: Counter = Counter()

    def geolocate(self, tracks: Sequence[FinishedTrack], pose_track: PoseTrack, session: int) -> List[TrackEstimate]:
        """Estimates of the tracks (tracks without enough posed observations are dropped and counted)."""
        cfg = self.config
        tracks = [t for t in tracks if t.stamps_ns.shape[0] > 0]
        low = [t for t in tracks if float(np.mean(t.scores)) < cfg.min_track_mean_score]
        if low:
            # Persistent false detections (look-alikes) get tracked too, but with middling scores.
            self.counters["tracks_low_mean_score"] += len(low)
            tracks = [t for t in tracks if float(np.mean(t.scores)) >= cfg.min_track_mean_score]
        if not tracks:
            return []
        unknown = sorted({t.camera for t in tracks} - set(self.camera_index))
        if unknown:
            self.counters["tracks_of_unknown_camera"] += sum(t.camera in unknown for t in tracks)
            tracks = [t for t in tracks if t.camera not in unknown]
            if not tracks:
                return []
        sizes = np.array([t.stamps_ns.shape[0] for t in tracks])
        stamps = np.concatenate([t.stamps_ns for t in tracks])
        scores = np.concatenate([np.asarray(t.scores, dtype=np.float64) for t in tracks])
        pixels = np.concatenate([t.centres_px for t in tracks])
        box_sizes = np.concatenate([t.sizes_px for t in tracks])
        cam_of_obs = np.repeat(np.array([self.camera_index[t.camera] for t in tracks]), sizes)
        origin_b = np.zeros((stamps.shape[0], 3))
        dir_b = np.zeros((stamps.shape[0], 3))
        focal = np.zeros(stamps.shape[0])
        clipped = np.zeros(stamps.shape[0], dtype=bool)
        for name, ci in self.camera_index.items():
            sel = cam_of_obs == ci
            if not sel.any():
                continue
            model = self.rig.camera(name).model
            o, d = model.rays_base(pixels[sel])
            origin_b[sel] = o
            dir_b[sel] = d
            focal[sel] = 0.5 * (model.intrinsics.fx + model.intrinsics.fy)
            # Boxes cut by the image border have a shifted centre: keep them, but with little weight.
            lo = pixels[sel] - 0.5 * box_sizes[sel]
            hi = pixels[sel] + 0.5 * box_sizes[sel]
            size = np.array([model.intrinsics.width, model.intrinsics.height], dtype=np.float64)
            clipped[sel] = np.any(lo <= BORDER_MARGIN_PX, axis=1) | np.any(hi >= size - BORDER_MARGIN_PX, axis=1)
        poses = pose_track.pose_at(stamps)
        # Plane point in base_link: depth for the pixel noise, reach for the heading noise.
        with np.errstate(divide="ignore", invalid="ignore"):
            t_plane = (cfg.canopy_height_m - origin_b[:, 2]) / dir_b[:, 2]
        usable = poses.valid & np.isfinite(t_plane) & (t_plane > 0) & np.all(np.isfinite(dir_b), axis=1)
        self.counters["observations_without_pose"] += int((~poses.valid).sum())
        plane_b = origin_b + dir_b * np.where(usable, t_plane, 0.0)[:, None]
        origins = poses.xyz + _rotate_z(origin_b, poses.yaw)
        dirs = _rotate_z(dir_b, poses.yaw)
        rel_sd = pose_track.relative_pose_sd()
        # Per ray: pixel noise at the viewing distance, short-term pose noise, heading noise at the lever
        # from the robot centre to the seen point, and the dead-reckoning drift of a pose in a GNSS dropout over the
        # time a flower is in view (the rest of its sd is common to those rays: it is in the GNSS variance, sd_h).
        reach = np.hypot(plane_b[:, 0], plane_b[:, 1])
        rel_heading = max(cfg.relative_heading_sd_rad, pose_track.heading_noise_sd())
        pixel_sigma = cfg.pixel_sd_px * np.where(usable, t_plane, 1.0) / focal
        drift = np.minimum(poses.sd_dropout, cfg.dead_reckoning_sd_mps * VIEW_DRIFT_S)
        sigma = np.sqrt(pixel_sigma ** 2 + rel_sd ** 2 + (rel_heading * reach) ** 2 + drift ** 2)
        sigma = np.where(clipped, sigma * CLIPPED_BOX_SIGMA_FACTOR, sigma)
        # Simultaneous rays of two cameras share the pose: only pixel noise separates them (GNSS-free gate).
        pixel_sigma = np.where(clipped, pixel_sigma * CLIPPED_BOX_SIGMA_FACTOR, pixel_sigma)
        self.counters["observations_clipped_by_border"] += int(clipped.sum())
        track_of_obs = np.repeat(np.arange(len(tracks)), sizes)
        keep_track = np.bincount(track_of_obs, weights=usable, minlength=len(tracks)) >= cfg.min_track_observations
        self.counters["tracks_too_few_posed_observations"] += int((~keep_track).sum())
        # A track whose every box is cut by the image border never saw the flower's centre: its position
        # can be off by decimetres; the flower is (nearly always) seen whole by another camera or track.
        whole = np.bincount(track_of_obs, weights=usable & ~clipped, minlength=len(tracks)) > 0
        self.counters["tracks_only_at_image_border"] += int((keep_track & ~whole).sum())
        keep_track &= whole
        keep_obs = usable & keep_track[track_of_obs]
        if not keep_obs.any():
            return []
        kept_tracks = np.flatnonzero(keep_track)
        tob = track_of_obs[keep_obs]
        starts = np.searchsorted(tob, kept_tracks)
        ground_z = np.add.reduceat(poses.xyz[keep_obs, 2], starts) / np.diff(np.append(starts, tob.shape[0]))
        xyz, cov3, _ = triangulate_rays(origins[keep_obs], dirs[keep_obs], sigma[keep_obs], starts,
                                        ground_z + cfg.canopy_height_m, cfg.canopy_height_sd_m)
        out: List[TrackEstimate] = []
        ko = np.flatnonzero(keep_obs)
        bounds = np.append(starts, tob.shape[0])
        for g, ti in enumerate(kept_tracks):
            obs = ko[bounds[g]:bounds[g + 1]]
            # Lateral offset of the triangulated point (not of the canopy-plane point: a low flower of the next
            # row seen by the camera looking across would appear within the swath).
            d = xyz[g, :2] - poses.xyz[obs, :2]
            lateral = float(np.median(np.cos(poses.yaw[obs]) * d[:, 1] - np.sin(poses.yaw[obs]) * d[:, 0]))
            if cfg.swath_half_width_m is not None and abs(lateral) > cfg.swath_half_width_m:
                self.counters["tracks_outside_swath"] += 1
                continue
            height = xyz[g, 2] - ground_z[g]
            if not cfg.min_flower_height_m <= height <= cfg.max_flower_height_m:
                # Implausible triangulation (e.g. a track spanning two flowers): fall back to the canopy plane.
                self.counters["tracks_height_implausible"] += 1
                xyz[g, 2] = ground_z[g] + float(np.clip(height, cfg.min_flower_height_m, cfg.max_flower_height_m))
            horiz = np.hypot(*(xyz[g, :2] - poses.xyz[obs, :2]).T)
            heading_var = float(np.mean((cfg.heading_sd_rad * horiz) ** 2))
            track = tracks[ti]
            out.append(TrackEstimate(
                camera=track.camera, camera_index=self.camera_index[track.camera], track_id=track.track_id,
                session=session, xyz=xyz[g].copy(), cov_meas=cov3[g, :2, :2] + heading_var * np.eye(2),
                gnss_var=float(np.mean(poses.sd_h[obs] ** 2)), stamps_ns=stamps[obs], ray_origins=origins[obs],
                ray_dirs=dirs[obs], ray_sigma=sigma[obs], ground_z=float(ground_z[g]), z_var=float(cov3[g, 2, 2]), score_sum=float(scores[obs].sum()), embedding=track.embedding, embedding_model_id=track.embedding_model_id,
                lateral_m=lateral, ray_sigma_pixel=pixel_sigma[obs], extra={"height_m": float(xyz[g, 2] - ground_z[g])},
                yaw=float(np.arctan2(np.mean(np.sin(poses.yaw[obs])), np.mean(np.cos(poses.yaw[obs]))))))
        self.counters["tracks_geolocated"] += len(out)
        return out
