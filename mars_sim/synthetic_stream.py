"""Synthetic detection streams with known identities, for the tracker's tests, benchmarks and model training.

A camera moving along a row sees static objects (flowers) scroll through the image at the ego speed (which
varies), with box jitter, missed detections and occlusion episodes (low scores), false positives, dropped
frames and appearance features that may be nearly identical between objects (look-alike flowers). Objects are
spawned lazily ahead of the camera, so an endless stream keeps a flat memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from mars_core.detections import DetectionFrame, Detections


@dataclass(frozen=True)
class FieldStreamSpec:
    """Parameters of a synthetic field stream (pixels, seconds)."""

    image_width: int = 1280
    image_height: int = 960
    frame_rate_hz: float = 30.0
    ego_speed: float = 250.0            # mean image speed of the scene, px/s, objects move towards -x
    ego_speed_variation: float = 0.3    # relative amplitude of a slow speed oscillation
    ego_period_s: float = 6.0
    ego_lateral: float = 20.0           # amplitude of lateral (y) image motion, px/s
    density: float = 0.025              # objects per pixel of travel (visible count ~ density * width)
    size_range: Tuple[float, float] = (30.0, 70.0)
    own_motion_std: float = 3.0         # objects' own image velocity (sway), px/s
    jitter: float = 0.04                # box noise, fraction of the size
    detection_probability: float = 0.92
    occlusion_probability: float = 0.01 # chance per object per frame to start an occlusion episode
    occlusion_frames: Tuple[int, int] = (3, 15)
    occluded_low_score_probability: float = 0.5  # occluded objects are seen with a low score this often
    false_positives_per_frame: float = 0.3
    frame_drop_probability: float = 0.03
    feature_dim: int = 64
    feature_model_id: str = "synthetic-embed-v1"
    look_alike: float = 0.7             # 0 = distinct embeddings ... 1 = identical objects
    feature_noise: float = 0.15
    camera_name: str = "cam_center"


def field_stream(spec: FieldStreamSpec, seed: int, n_frames: Optional[int] = None,
                 start_ns: int = 1_000_000_000) -> Iterator[Tuple[DetectionFrame, np.ndarray]]:
    """Frames and the true object id of each detection (-1 = false positive); endless when n_frames is None."""
    rng = np.random.default_rng(seed)
    w, h = spec.image_width, spec.image_height
    dim = spec.feature_dim
    common = _unit(rng.normal(size=dim)) if dim else np.zeros(0)
    # Columns of the live objects: world x, y, size w, size h, own vx, vy, occluded frames left.
    objs = np.zeros((0, 7))
    emb = np.zeros((0, dim))
    ids = np.zeros(0, np.int64)
    next_id = 0
    offset = np.zeros(2)          # camera position in world pixels
    spawned_to = 0.0              # world x up to which objects exist

    def spawn(x_from: float, x_to: float) -> None:
        nonlocal objs, emb, ids, next_id
        n = rng.poisson(spec.density * max(x_to - x_from, 0.0))
        if n == 0:
            return
        size = rng.uniform(*spec.size_range, size=n)
        aspect = rng.uniform(0.8, 1.25, size=n)
        block = np.stack([rng.uniform(x_from, x_to, n), offset[1] + rng.uniform(0.05 * h, 0.95 * h, n),
                          size * aspect, size / aspect, rng.normal(0, spec.own_motion_std, n),
                          rng.normal(0, spec.own_motion_std, n), np.zeros(n)], axis=1)
        objs = np.concatenate([objs, block])
        if dim:
            own = np.stack([_unit(rng.normal(size=dim)) for _ in range(n)])
            e = spec.look_alike * common[None, :] + (1.0 - spec.look_alike) * own
            emb = np.concatenate([emb, e / np.linalg.norm(e, axis=1, keepdims=True)])
        ids = np.concatenate([ids, np.arange(next_id, next_id + n)])
        next_id += n

    margin = spec.size_range[1]
    spawn(-margin, w + margin)
    spawned_to = w + margin
    dt = 1.0 / spec.frame_rate_hz
    frame = 0
    t = 0.0
    while n_frames is None or frame < n_frames:
        speed = spec.ego_speed * (1.0 + spec.ego_speed_variation * np.sin(2 * np.pi * t / spec.ego_period_s))
        lateral = spec.ego_lateral * np.sin(2 * np.pi * t / (1.7 * spec.ego_period_s))
        offset += np.array([speed, lateral]) * dt
        objs[:, 0:2] += objs[:, 4:6] * dt
        t += dt
        if offset[0] + w + margin > spawned_to:
            spawn(spawned_to, offset[0] + w + margin)
            spawned_to = offset[0] + w + margin
        # Forget objects that have scrolled out behind the camera.
        alive = objs[:, 0] - offset[0] > -2 * margin
        objs, emb, ids = objs[alive], emb[alive], ids[alive]
        frame += 1
        if rng.random() < spec.frame_drop_probability:
            continue
        cx = objs[:, 0] - offset[0]
        cy = objs[:, 1] - offset[1]
        visible = (cx > 0) & (cx < w) & (cy > 0) & (cy < h)
        start = visible & (objs[:, 6] <= 0) & (rng.random(objs.shape[0]) < spec.occlusion_probability)
        objs[start, 6] = rng.integers(*spec.occlusion_frames, size=int(start.sum()))
        occluded = objs[:, 6] > 0
        objs[occluded, 6] -= 1
        seen = visible & (rng.random(objs.shape[0]) < spec.detection_probability)
        low_seen = occluded & (rng.random(objs.shape[0]) < spec.occluded_low_score_probability)
        seen &= ~occluded | low_seen
        idx = np.nonzero(seen)[0]
        size = 0.5 * (objs[idx, 2] + objs[idx, 3])
        xywh = np.stack([cx[idx], cy[idx], objs[idx, 2], objs[idx, 3]], axis=1)
        xywh += rng.normal(size=xywh.shape) * spec.jitter * size[:, None]
        scores = np.where(occluded[idx], rng.uniform(0.15, 0.5, idx.size),
                          np.clip(rng.normal(0.8, 0.1, idx.size), 0.5, 0.99))
        feats = emb[idx] + rng.normal(size=(idx.size, dim)) * spec.feature_noise / np.sqrt(max(dim, 1))
        true_ids = ids[idx]
        n_fp = rng.poisson(spec.false_positives_per_frame)
        if n_fp:
            fsize = rng.uniform(*spec.size_range, n_fp)
            fp = np.stack([rng.uniform(0, w, n_fp), rng.uniform(0, h, n_fp), fsize, fsize], axis=1)
            xywh = np.concatenate([xywh, fp])
            scores = np.concatenate([scores, rng.uniform(0.1, 0.7, n_fp)])
            feats = np.concatenate([feats, rng.normal(size=(n_fp, dim))])
            true_ids = np.concatenate([true_ids, np.full(n_fp, -1)])
        xyxy = Detections.xyxy_from_xywh(xywh)
        np.clip(xyxy[:, 0::2], 0, w, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, h, out=xyxy[:, 1::2])
        features = _unit_rows(feats).astype(np.float32) if dim else None
        dets = Detections(xyxy, scores.astype(np.float32), np.zeros(xyxy.shape[0], np.int32), features,
                          spec.feature_model_id if dim else "")
        stamp = start_ns + int(round((frame - 1) * dt * 1e9))
        yield DetectionFrame(spec.camera_name, stamp, frame - 1, w, h, dets), true_ids


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _unit_rows(v: np.ndarray) -> np.ndarray:
    if v.shape[0] == 0:
        return v
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def crowded_mot_detections(n_per_frame: int, n_frames: int, seed: int, area_per_box: float = 10_000.0,
                           step_px: float = 6.0) -> np.ndarray:
    """MOTChallenge detection rows (M, 7: frame, -1, x, y, w, h, score) of a crowd of n_per_frame objects.

    The objects cover a square field at one box per ``area_per_box`` px^2 whatever n_per_frame (so gated pairs
    grow linearly with it), drift by ``step_px`` per frame with jitter, and 8 % of them are missed per frame;
    a fifth of the detections have a low score (ByteTrack's second stage). For the tracker's scaling tests.
    """
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(n_per_frame * area_per_box))
    centres = rng.uniform(0.0, side, (n_per_frame, 2))
    sizes = rng.uniform(30.0, 70.0, (n_per_frame, 1)) * rng.uniform(0.8, 1.25, (n_per_frame, 2))
    out = []
    for frame in range(1, n_frames + 1):
        seen = rng.random(n_per_frame) >= 0.08
        xywh = np.concatenate([centres + (frame - 1) * step_px, sizes], axis=1)[seen]
        xywh[:, 0:2] += rng.normal(0.0, 0.03, (xywh.shape[0], 2)) * xywh[:, 2:4]
        scores = np.where(rng.random(xywh.shape[0]) < 0.2, rng.uniform(0.15, 0.45, xywh.shape[0]),
                          rng.uniform(0.6, 0.95, xywh.shape[0]))
        out.append(np.column_stack([np.full(xywh.shape[0], frame), np.full(xywh.shape[0], -1.0),
                                    xywh[:, 0:2] - xywh[:, 2:4] / 2, xywh[:, 2:4], scores]))
    return np.concatenate(out)
