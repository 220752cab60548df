"""Detection-level simulation of one camera: what a detector would output for every frame, vectorised.

For all frames of a camera at once (in chunks), flowers near each frame's footprint are found with a
KD-tree (the spatial pre-filter), projected with the rig's CameraModel, and turned into detections:
in-image and size checks, view-dependent occlusion by leaves (smooth in the viewing direction, so it
comes in runs of frames), random misses, box jitter, scores, one-frame false positives, persistent
flower-like distractors (detected in runs, look-alike features: they make false tracks), and per-detection
appearance features = the flower's latent vector + a smooth view-dependent term + per-view noise.
The true boxes of every visible (in-image, unoccluded) flower form the tracking ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from scipy.spatial import cKDTree

from mars_core.detections import DetectionFrame, Detections
from mars_core.geometry.camera_model import CameraModel
from mars_core.rig import RigCamera
from mars_sim.config import CameraTimingConfig, DetectionModelConfig
from mars_sim.trajectory import RobotPoses, Trajectory
from mars_sim.world import FlowerField, occlusion_value

_CHUNK_FRAMES = 4096


@dataclass(frozen=True)
class TrueBoxes:
    """Tracking ground truth of one camera: every visible flower in every frame (rows)."""

    frame_index: np.ndarray    # (M,) int64 index into the camera's frames
    flower_id: np.ndarray      # (M,) int64
    xyxy: np.ndarray           # (M, 4) float32, clipped to the image
    in_image_fraction: np.ndarray  # (M,) float32


@dataclass(frozen=True)
class CameraStream:
    """One camera's simulated output: detection frames, the true flower id of every detection, truth boxes."""

    name: str
    frames: Tuple[DetectionFrame, ...]
    truth_ids: Tuple[np.ndarray, ...]   # per frame: (N_i,) int64 flower id per detection, -1 = false positive
    true_boxes: TrueBoxes
    poses: RobotPoses                   # robot pose at each frame's capture time

    @property
    def stamps_ns(self) -> np.ndarray:
        """Capture stamps of all frames."""
        return self.poses.stamp_ns



def recalibrated_scores(scores: np.ndarray, det: DetectionModelConfig) -> np.ndarray:
    """The detector's own score scale (score_gamma, score_offset, score_quantization_step) over raw scores."""
    if det.score_gamma == 1.0 and det.score_offset == 0.0 and det.score_quantization_step <= 0.0:
        return scores  # the default detector: untouched, bit for bit
    out = np.clip(np.power(scores, det.score_gamma) + det.score_offset, 0.0, 1.0)
    if det.score_quantization_step > 0.0:
        out = np.floor(out / det.score_quantization_step + 1e-9) * det.score_quantization_step
    return out

def frame_stamps(rate_hz: float, timing: CameraTimingConfig, start_ns: int, end_ns: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Capture stamps of a camera: nominal period + constant offset + per-frame jitter, increasing."""
    period = 1.0 / rate_hz
    n = int(np.floor(((end_ns - start_ns) * 1e-9 - timing.offset_s) / period)) + 1
    n = max(n, 0)
    t = timing.offset_s + np.arange(n) * period + rng.normal(0.0, timing.jitter_s, n)
    t = np.clip(t, 0.0, None)
    stamps = start_ns + np.round(t * 1e9).astype(np.int64)
    return np.maximum.accumulate(stamps)


def camera_footprint(model: CameraModel, height_range: Tuple[float, float]) -> Tuple[np.ndarray, float]:
    """Centre (3,) in base_link of what the camera sees in the canopy, and a radius covering it."""
    intr = model.intrinsics
    corners = np.array([[0, 0], [intr.width, 0], [0, intr.height], [intr.width, intr.height],
                        [intr.cx, intr.cy]], dtype=float)
    pts = [model.ground_point_from_pixel(corners, h) for h in (height_range[0] - 0.1, height_range[1] + 0.1)]
    pts_all = np.concatenate(pts)
    if not np.all(np.isfinite(pts_all)):
        # A view reaching the horizon: fall back to a generous disc around the camera.
        centre = np.asarray(model.extrinsics.xyz)
        return np.array([centre[0], centre[1], 0.0]), 6.0
    centre = pts_all.mean(axis=0)
    radius = float(np.max(np.linalg.norm(pts_all[:, :2] - centre[:2], axis=1))) + 0.15
    return centre, radius


def _to_base(points_map: np.ndarray, x: np.ndarray, y: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Map points (M, 3) into base_link of poses given per row."""
    c, s = np.cos(yaw), np.sin(yaw)
    dx, dy = points_map[:, 0] - x, points_map[:, 1] - y
    return np.column_stack([c * dx + s * dy, -s * dx + c * dy, points_map[:, 2]])


def _from_base(points_base: np.ndarray, x: np.ndarray, y: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """base_link points (M, 3) of poses given per row into map."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.column_stack([x + c * points_base[:, 0] - s * points_base[:, 1],
                            y + s * points_base[:, 0] + c * points_base[:, 1], points_base[:, 2]])


@dataclass(frozen=True)
class _Projected:
    """Candidate (frame, flower) pairs projected into the camera."""

    frame: np.ndarray
    flower: np.ndarray          # row index into FlowerField
    box: np.ndarray             # (M, 4) unclipped xyxy
    visible: np.ndarray         # (M,) in image enough, big enough, unoccluded
    in_fraction: np.ndarray
    view: np.ndarray            # (M, 3) unit flower -> camera in map


def project_discs(model: CameraModel, xyz: np.ndarray, diameter: np.ndarray, poses: RobotPoses, frame: np.ndarray,
                  det: DetectionModelConfig) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (M, 4), usable mask, in-image fraction and unit view vectors of upward-facing discs seen from
    the pose of each row's frame."""
    intr = model.intrinsics
    x, y, yaw = poses.x[frame], poses.y[frame], poses.yaw[frame]
    base = _to_base(xyz, x, y, yaw)
    optical = model.base_to_optical(base)
    depth = optical[:, 2]
    uv = intr.project(optical)
    cam_map = _from_base(np.broadcast_to(np.asarray(model.extrinsics.xyz), base.shape), x, y, yaw)
    to_cam = cam_map - xyz
    dist = np.linalg.norm(to_cam, axis=1)
    view = to_cam / np.maximum(dist, 1e-9)[:, None]
    # A flower is a disc facing up: oblique views shrink its box.
    foreshorten = 0.55 + 0.45 * np.clip(view[:, 2], 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = 0.5 * diameter * intr.fx / depth * foreshorten
    box = np.column_stack([uv[:, 0] - half, uv[:, 1] - half, uv[:, 0] + half, uv[:, 1] + half])
    ok = (depth > 0.05) & np.all(np.isfinite(box), axis=1)
    clipped = np.column_stack([np.clip(box[:, 0], 0, intr.width), np.clip(box[:, 1], 0, intr.height),
                               np.clip(box[:, 2], 0, intr.width), np.clip(box[:, 3], 0, intr.height)])
    area = np.where(ok, (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]), 1.0)
    inside = np.where(ok, (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) / np.maximum(area, 1e-9),
                      0.0)
    ok &= (inside >= det.min_in_image_fraction) & (2 * np.nan_to_num(half) >= det.min_box_px)
    return box, ok, inside.astype(np.float32), view


def project_flowers(model: CameraModel, field: FlowerField, flower_index: np.ndarray, poses: RobotPoses,
                    frame: np.ndarray, det: DetectionModelConfig) -> _Projected:
    """Project flowers (one per pair) seen from the pose of the pair's frame; decide visibility."""
    box, ok, inside, view = project_discs(model, field.xyz[flower_index], field.diameter_m[flower_index], poses,
                                          frame, det)
    occ = occlusion_value(field.occlusion_dirs[flower_index], field.occlusion_phase[flower_index], view,
                          det.occlusion_smoothness)
    visible = ok & (occ <= field.occlusion_threshold[flower_index])
    return _Projected(frame, flower_index, box, visible, inside, view)


def candidate_pairs(tree: cKDTree, centres_xy: np.ndarray, radius: float) -> Tuple[np.ndarray, np.ndarray]:
    """(frame index, flower index) pairs of flowers within radius of each frame's footprint centre."""
    if centres_xy.shape[0] == 0 or tree.n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lists = tree.query_ball_point(centres_xy, radius)
    counts = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    if counts.sum() == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flowers = np.fromiter((i for v in lists for i in v), dtype=np.int64, count=int(counts.sum()))
    frames = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
    return frames, flowers


def simulate_camera(camera: RigCamera, timing: CameraTimingConfig, field: FlowerField, tree: cKDTree,
                    distractor_tree: cKDTree, trajectory: Trajectory, end_time_ns: int, det: DetectionModelConfig,
                    height_range: Tuple[float, float], view_basis: np.ndarray,
                    rng: np.random.Generator) -> CameraStream:
    """All frames of one camera along the drive."""
    model = camera.model
    intr = model.intrinsics
    stamps = frame_stamps(camera.frame_rate_hz, timing, trajectory.start_time_ns, end_time_ns, rng)
    poses = trajectory.poses(stamps)
    centre_base, radius = camera_footprint(model, height_range)
    centres = _from_base(np.broadcast_to(centre_base, (stamps.size, 3)), poses.x, poses.y, poses.yaw)
    k_total = stamps.size
    dim = field.latent.shape[1]
    frames: List[DetectionFrame] = []
    truth: List[np.ndarray] = []
    gt_parts: List[Tuple[np.ndarray, ...]] = []
    for lo in range(0, k_total, _CHUNK_FRAMES):
        hi = min(lo + _CHUNK_FRAMES, k_total)
        pair_frame, pair_flower = candidate_pairs(tree, centres[lo:hi, :2], radius)
        pair_frame = pair_frame + lo
        proj = project_flowers(model, field, pair_flower, poses, pair_frame, det)
        vis = proj.visible
        clipped = np.column_stack([np.clip(proj.box[vis, 0], 0, intr.width), np.clip(proj.box[vis, 1], 0, intr.height),
                                   np.clip(proj.box[vis, 2], 0, intr.width), np.clip(proj.box[vis, 3], 0, intr.height)])
        gt_parts.append((proj.frame[vis], field.ids[proj.flower[vis]], clipped.astype(np.float32),
                         proj.in_fraction[vis]))
        # True positives: visible flowers the detector finds.
        hit = vis & (rng.random(vis.size) < det.detect_probability)
        tp_frame, tp_flower, tp_box, tp_view = proj.frame[hit], proj.flower[hit], proj.box[hit], proj.view[hit]
        size = tp_box[:, 2:4] - tp_box[:, 0:2]
        centre = 0.5 * (tp_box[:, 0:2] + tp_box[:, 2:4]) + rng.normal(0, det.box_jitter_fraction, size.shape) * size
        size = size * np.exp(rng.normal(0, det.box_jitter_fraction, size.shape))
        tp_xyxy = np.column_stack([centre - 0.5 * size, centre + 0.5 * size])
        # Partly visible flowers (image border) score lower, as with a real detector.
        tp_score = rng.beta(*det.score_tp_beta, tp_frame.size) * (0.7 + 0.3 * proj.in_fraction[hit])
        tp_feat = (field.latent[tp_flower] + det.feature_view_gain * (tp_view @ view_basis)
                   + rng.normal(0, det.feature_view_noise / np.sqrt(dim), (tp_frame.size, dim)))
        # False positives: Poisson per frame, flower-sized boxes anywhere, flower-like features.
        n_fp = rng.poisson(det.false_positives_per_frame, hi - lo)
        fp_frame = np.repeat(np.arange(lo, hi, dtype=np.int64), n_fp)
        m = fp_frame.size
        fp_size = np.exp(rng.normal(np.log(40.0), 0.4, m))[:, None] * np.exp(rng.normal(0, 0.15, (m, 2)))
        fp_centre = rng.uniform(0, 1, (m, 2)) * np.array([intr.width, intr.height])
        fp_xyxy = np.column_stack([fp_centre - 0.5 * fp_size, fp_centre + 0.5 * fp_size])
        fp_score = rng.beta(*det.score_fp_beta, m)
        fp_proto = field.prototypes[rng.integers(0, field.prototypes.shape[0], m)] if m else np.zeros((0, dim))
        fp_feat = fp_proto + rng.normal(0, 1.0, (m, dim)) / np.sqrt(dim)
        # Distractors: persistent flower-like objects, detected in runs of frames with look-alike features.
        d_frame, d_index = candidate_pairs(distractor_tree, centres[lo:hi, :2], radius)
        d_frame = d_frame + lo
        d_box, d_ok, _, d_view = project_discs(model, field.distractor_xyz[d_index], field.distractor_size_m[d_index],
                                               poses, d_frame, det)
        d_hit = d_ok & (rng.random(d_ok.size) < det.distractor_detect_probability)
        d_frame, d_index, d_box, d_view = d_frame[d_hit], d_index[d_hit], d_box[d_hit], d_view[d_hit]
        d_size = d_box[:, 2:4] - d_box[:, 0:2]
        d_centre = 0.5 * (d_box[:, 0:2] + d_box[:, 2:4]) + rng.normal(0, det.box_jitter_fraction, d_size.shape) * d_size
        d_xyxy = np.column_stack([d_centre - 0.5 * d_size, d_centre + 0.5 * d_size])
        d_score = rng.beta(*det.score_distractor_beta, d_frame.size)
        d_feat = (field.distractor_latent[d_index] + det.feature_view_gain * (d_view @ view_basis)
                  + rng.normal(0, det.feature_view_noise / np.sqrt(dim), (d_frame.size, dim)))
        m_d = d_frame.size
        all_frame = np.concatenate([tp_frame, fp_frame, d_frame])
        all_xyxy = np.concatenate([tp_xyxy, fp_xyxy, d_xyxy]).astype(np.float32)
        all_xyxy[:, 0::2] = np.clip(all_xyxy[:, 0::2], 0, intr.width)
        all_xyxy[:, 1::2] = np.clip(all_xyxy[:, 1::2], 0, intr.height)
        all_score = recalibrated_scores(np.concatenate([tp_score, fp_score, d_score]), det).astype(np.float32)
        all_id = np.concatenate([field.ids[tp_flower], np.full(m + m_d, -1, np.int64)])
        all_feat = np.concatenate([tp_feat, fp_feat, d_feat]).astype(np.float32)
        all_feat /= np.maximum(np.linalg.norm(all_feat, axis=1, keepdims=True), 1e-12)
        order = np.lexsort((-all_score, all_frame))   # per frame, best score first (like a detector)
        all_frame, all_xyxy, all_score, all_id, all_feat = (all_frame[order], all_xyxy[order], all_score[order],
                                                            all_id[order], all_feat[order])
        bounds = np.searchsorted(all_frame, np.arange(lo, hi + 1))
        zeros_cls = np.zeros(all_frame.size, np.int32)
        for k in range(lo, hi):
            a, b = bounds[k - lo], bounds[k - lo + 1]
            dets = Detections(all_xyxy[a:b], all_score[a:b], zeros_cls[a:b], all_feat[a:b], det.feature_model_id)
            frames.append(DetectionFrame(camera.name, int(stamps[k]), k, intr.width, intr.height, dets))
            truth.append(all_id[a:b])
    if gt_parts:
        gt = TrueBoxes(*(np.concatenate([p[i] for p in gt_parts]) for i in range(4)))
    else:
        gt = TrueBoxes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    return CameraStream(camera.name, tuple(frames), tuple(truth), gt, poses)
