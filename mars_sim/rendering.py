"""Image level: camera images rendered from the same world as the detection level, with exact labels.

Per frame (numpy + OpenCV, CPU only): soil texture evaluated where each pixel's ray meets the ground
(a periodic value-noise tile in map coordinates, so it moves consistently with the robot), a canopy of
leaf ellipses behind the flowers, flower-like distractors (whitish blobs, never labelled), flowers as
5-petal shapes (cream/white/pink, size from the projection), and for flowers the detection level calls
occluded (the same view-dependent occlusion pattern) a leaf in front of them. Then per-frame lighting, Gaussian and motion blur, and sensor noise. All projection goes
through the rig's CameraModel. Labels are the detection level's true boxes of that frame (visible,
unoccluded flowers), so images, YOLO labels and gt.txt agree.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Dict, Tuple

import cv2
import numpy as np

from mars_core.geometry.camera_model import CameraModel
from mars_sim.detection_sim import _from_base, _to_base
from mars_sim.simulation import SimulationResult
from mars_sim.trajectory import RobotPoses
from mars_sim.world import occlusion_value

_SHIFT = 4                 # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT
SOIL_BGR = np.array([70, 105, 140], np.float32)


@dataclass(frozen=True)
class RenderedFrame:
    """One rendered camera image (BGR uint8, at render scale) and its labels in full-resolution pixels."""

    image: np.ndarray          # (H*scale, W*scale, 3) uint8
    boxes_xyxy: np.ndarray     # (M, 4) float32 full-resolution pixels (the detection level's true boxes)
    flower_ids: np.ndarray     # (M,) int64
    scale: float


TILE_PX = 1024
TILE_M_PER_PX = 0.004          # a periodic 4.1 m soil tile: the period is wider than any camera's view


def _hash01(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) per integer lattice point."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ np.int64(salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).astype(np.float32) / 65536.0


def periodic_value_noise(size: int, cells: int, salt: int) -> np.ndarray:
    """(size, size) smooth value noise in [0, 1) that wraps around at the edges (cells lattice cells)."""
    g = (np.arange(size, dtype=np.float64) + 0.5) * cells / size
    i = np.floor(g).astype(np.int64)
    f = (g - i).astype(np.float32)
    f = f * f * (3 - 2 * f)
    ix, iy = np.meshgrid(i, i)
    fx, fy = np.meshgrid(f, f)
    a, b = _hash01(ix % cells, iy % cells, salt), _hash01((ix + 1) % cells, iy % cells, salt)
    c, d = _hash01(ix % cells, (iy + 1) % cells, salt), _hash01((ix + 1) % cells, (iy + 1) % cells, salt)
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy


def soil_tile(seed: int) -> np.ndarray:
    """The periodic soil texture (TILE_PX square, BGR float32) in map metres at TILE_M_PER_PX."""
    tex = (0.55 * periodic_value_noise(TILE_PX, 16, 1 + seed) + 0.3 * periodic_value_noise(TILE_PX, 64, 2 + seed)
           + 0.15 * periodic_value_noise(TILE_PX, 256, 3 + seed))
    return (SOIL_BGR[None, None, :] * (0.55 + 0.8 * tex)[:, :, None]).astype(np.float32)


_GRID = 4   # ground points are exact on every 4th pixel and bilinear in between (smooth, sub-millimetre)


@functools.lru_cache(maxsize=16)
def ground_points(model: CameraModel, scale: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, int]]:
    """Per render pixel of a camera: base_link x, y (float32) where its ray meets z = 0, a hit mask, (w, h)."""
    intr = model.intrinsics
    w, h = max(1, int(round(intr.width * scale))), max(1, int(round(intr.height * scale)))
    gw, gh = (w + _GRID - 1) // _GRID + 1, (h + _GRID - 1) // _GRID + 1
    u = (np.arange(gw) * _GRID + 0.5) / scale - 0.5
    v = (np.arange(gh) * _GRID + 0.5) / scale - 0.5
    uu, vv = np.meshgrid(u, v)
    g = model.ground_point_from_pixel(np.column_stack([uu.ravel(), vv.ravel()]), 0.0)
    hit = np.all(np.isfinite(g), axis=1).astype(np.float32)
    g = np.nan_to_num(g).astype(np.float32)
    coarse = np.dstack([g[:, 0].reshape(gh, gw), g[:, 1].reshape(gh, gw), hit.reshape(gh, gw)])
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float32) / _GRID, np.arange(h, dtype=np.float32) / _GRID)
    fine = cv2.remap(coarse, jj, ii, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (np.ascontiguousarray(fine[:, :, 0]), np.ascontiguousarray(fine[:, :, 1]), fine[:, :, 2] > 0.999, (w, h))


class FrameRenderer:
    """Renders frames of a SimulationResult; cached per-camera pixel rays make each frame cheap."""

    def __init__(self, result: SimulationResult, scale: float | None = None) -> None:
        self.result = result
        self.scale = float(result.config.render.scale if scale is None else scale)
        if not self.scale > 0:
            raise ValueError(f"render scale must be positive, got {self.scale}")
        self._ground: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, int]]] = {}
        self._cam_index = {name: i for i, name in enumerate(result.cameras)}
        self._soil = soil_tile(result.seed % 1000)

    def _ground_points(self, model: CameraModel) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, int]]:
        """Per render pixel: base_link x, y where its ray meets the ground, and whether it does (cached)."""
        cached = self._ground.get(model.name)
        if cached is None:
            cached = ground_points(model, self.scale)
            self._ground[model.name] = cached
        return cached

    def render(self, camera: str, frame_index: int) -> RenderedFrame:
        """The image of one frame of one camera, with its labels."""
        result = self.result
        stream = result.cameras[camera]
        if not 0 <= frame_index < len(stream.frames):
            raise IndexError(f"{camera} has {len(stream.frames)} frames, no frame {frame_index}")
        model = result.rig.camera(camera).model
        rcfg = result.config.render
        rng = np.random.default_rng([result.seed, self._cam_index[camera], frame_index, 0x52454E44])
        px, py, pyaw = (float(stream.poses.x[frame_index]), float(stream.poses.y[frame_index]),
                        float(stream.poses.yaw[frame_index]))
        gx_b, gy_b, hits, (w, h) = self._ground_points(model)
        c, s = np.float32(np.cos(pyaw)), np.float32(np.sin(pyaw))
        # The ground under each pixel in map (a rigid motion of the fixed base_link ground points), then the
        # soil tile sampled there (wraps around: the tile is periodic).
        inv = np.float32(1.0 / TILE_M_PER_PX)
        map_x = np.mod((np.float32(px) + c * gx_b - s * gy_b) * inv, TILE_PX).astype(np.float32)
        map_y = np.mod((np.float32(py) + s * gx_b + c * gy_b) * inv, TILE_PX).astype(np.float32)
        img: np.ndarray = cv2.remap(self._soil, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        img[~hits] = (200, 190, 180)     # a view above the horizon: overcast sky
        self._draw_canopy(img, model, stream.poses, frame_index, rng)
        brightness = rng.uniform(*rcfg.brightness_range)
        img *= np.float32(brightness)
        sigma = rng.uniform(0.0, rcfg.blur_sigma_max_px) * self.scale
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        motion = rng.uniform(0.0, rcfg.motion_blur_max_px) * self.scale
        if motion >= 1.5:
            img = self._motion_blur(img, model, motion)
        noise = np.empty(img.shape, np.float32)
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        cv2.randn(noise, 0.0, 3.0)  # type: ignore[call-overload]  # OpenCV's stubs: mean/stddev as arrays; scalars work
        img += noise
        np.clip(img, 0, 255, out=img)
        image = img.astype(np.uint8)
        gt = stream.true_boxes
        sel = gt.frame_index == frame_index
        return RenderedFrame(image, gt.xyxy[sel].copy(), gt.flower_id[sel].copy(), self.scale)

    def render_jpeg(self, camera: str, frame_index: int) -> bytes:
        """JPEG bytes of a frame at the camera's full resolution (boxes in the bag refer to it)."""
        frame = self.render(camera, frame_index)
        image = frame.image
        intr = self.result.rig.camera(camera).model.intrinsics
        if image.shape[1] != intr.width or image.shape[0] != intr.height:
            image = cv2.resize(image, (intr.width, intr.height), interpolation=cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(self.result.config.render.jpeg_quality)])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {camera} frame {frame_index}")
        return buf.tobytes()

    def _draw_canopy(self, img: np.ndarray, model: CameraModel, poses: RobotPoses, k: int,
                     rng: np.random.Generator) -> None:
        field = self.result.field
        px, py, pyaw = poses.x[k], poses.y[k], poses.yaw[k]
        sc = self.scale
        fx = model.intrinsics.fx
        # Leaves near the camera: a background layer (far first), flowers are drawn on top of it.
        near = np.hypot(field.leaf_xyz[:, 0] - px, field.leaf_xyz[:, 1] - py) < 3.0
        leaf_idx = np.flatnonzero(near)
        if leaf_idx.size:
            base = _to_base(field.leaf_xyz[leaf_idx], np.full(leaf_idx.size, px), np.full(leaf_idx.size, py),
                            np.full(leaf_idx.size, pyaw))
            uv, depth = model.project_base(base)
            tip_map = field.leaf_xyz[leaf_idx].copy()
            tip_map[:, 0] += np.cos(field.leaf_angle[leaf_idx]) * field.leaf_size_m[leaf_idx, 0]
            tip_map[:, 1] += np.sin(field.leaf_angle[leaf_idx]) * field.leaf_size_m[leaf_idx, 0]
            tip_uv, _ = model.project_base(_to_base(tip_map, np.full(leaf_idx.size, px), np.full(leaf_idx.size, py),
                                                    np.full(leaf_idx.size, pyaw)))
            ok = (depth > 0.05) & np.all(np.isfinite(uv), axis=1) & np.all(np.isfinite(tip_uv), axis=1)
            order = np.argsort(-depth)
            top = max(float(self.result.config.flowers.height_range_m[1]), 1e-6)
            for j in order:
                if not ok[j]:
                    continue
                i = leaf_idx[j]
                a = np.hypot(*(tip_uv[j] - uv[j])) * sc
                b = field.leaf_size_m[i, 1] * fx / depth[j] * sc
                if a < 0.5 or a > 4 * img.shape[1]:
                    continue
                angle = float(np.degrees(np.arctan2(*(tip_uv[j] - uv[j])[::-1])))
                light = 0.55 + 0.45 * min(field.leaf_xyz[i, 2] / top, 1.0)
                shade = 0.75 + 0.5 * field.leaf_shade[i]
                f = float(shade * light)
                colour = (45.0 * f, 125.0 * f, 55.0 * f)
                cv2.ellipse(img, (int(uv[j, 0] * sc * _ONE), int(uv[j, 1] * sc * _ONE)),
                            (int(a * _ONE), int(max(b, 0.5) * _ONE)), angle, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        self._draw_distractors(img, model, px, py, pyaw)
        # Flowers near the camera, far first; occluded ones get a leaf in front.
        fnear = np.flatnonzero(np.hypot(field.xyz[:, 0] - px, field.xyz[:, 1] - py) < 3.0)
        if fnear.size == 0:
            return
        n = fnear.size
        base = _to_base(field.xyz[fnear], np.full(n, px), np.full(n, py), np.full(n, pyaw))
        uv, depth = model.project_base(base)
        cam_map = _from_base(np.broadcast_to(np.asarray(model.extrinsics.xyz), (n, 3)), np.full(n, px),
                             np.full(n, py), np.full(n, pyaw))
        to_cam = cam_map - field.xyz[fnear]
        view = to_cam / np.linalg.norm(to_cam, axis=1, keepdims=True)
        foreshorten = 0.55 + 0.45 * np.clip(view[:, 2], 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            radius = 0.5 * field.diameter_m[fnear] * fx / depth * foreshorten
        occ = occlusion_value(field.occlusion_dirs[fnear], field.occlusion_phase[fnear], view,
                              self.result.config.detection.occlusion_smoothness) > field.occlusion_threshold[fnear]
        # Occluded flowers with their leaves first, then the unoccluded ones on top: a labelled flower is
        # never hidden by another flower's leaf (labels = the detection level's truth).
        by_depth = np.argsort(-depth)
        for j in np.concatenate([by_depth[occ[by_depth]], by_depth[~occ[by_depth]]]):
            if not (depth[j] > 0.05 and np.isfinite(radius[j]) and np.all(np.isfinite(uv[j]))):
                continue
            r = radius[j] * sc
            cx, cy = uv[j] * sc
            if cx < -r or cy < -r or cx > img.shape[1] + r or cy > img.shape[0] + r or r < 0.5:
                continue
            i = fnear[j]
            colour = field.colour_bgr[i] * rng.uniform(0.85, 1.05)
            petal_turn = float(field.occlusion_phase[i, 0])   # a fixed per-flower petal orientation
            for p in range(5):
                theta = petal_turn + 2 * np.pi * p / 5
                pc = (int((cx + 0.45 * r * np.cos(theta)) * _ONE), int((cy + 0.45 * r * np.sin(theta)) * _ONE))
                cv2.ellipse(img, pc, (int(0.55 * r * _ONE) + 1, int(0.36 * r * _ONE) + 1), float(np.degrees(theta)),
                            0, 360, tuple(float(v) for v in colour), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(img, (int(cx * _ONE), int(cy * _ONE)), int(0.2 * r * _ONE) + 1,
                       tuple(float(v) for v in colour * np.array([0.55, 0.85, 0.95])), -1, cv2.LINE_AA, _SHIFT)
            if occ[j]:
                # The leaf that hides this flower from this viewpoint (covers most of it).
                off = rng.normal(0.0, 0.15 * r, 2)
                cv2.ellipse(img, (int((cx + off[0]) * _ONE), int((cy + off[1]) * _ONE)),
                            (int(1.25 * r * _ONE) + 1, int(0.95 * r * _ONE) + 1), float(rng.uniform(0, 180)), 0, 360,
                            (40, 120, 50), -1, cv2.LINE_AA, _SHIFT)

    def _draw_distractors(self, img: np.ndarray, model: CameraModel, px: float, py: float, pyaw: float) -> None:
        """Whitish irregular blobs (lint, debris, bright bolls): hard negatives, never labelled."""
        field = self.result.field
        near = np.flatnonzero(np.hypot(field.distractor_xyz[:, 0] - px, field.distractor_xyz[:, 1] - py) < 3.0)
        if near.size == 0:
            return
        n = near.size
        base = _to_base(field.distractor_xyz[near], np.full(n, px), np.full(n, py), np.full(n, pyaw))
        uv, depth = model.project_base(base)
        sc = self.scale
        for j in np.argsort(-depth):
            if not (depth[j] > 0.05 and np.all(np.isfinite(uv[j]))):
                continue
            r = 0.5 * field.distractor_size_m[near[j]] * model.intrinsics.fx / depth[j] * sc
            cx, cy = uv[j] * sc
            if r < 0.5 or cx < -r or cy < -r or cx > img.shape[1] + r or cy > img.shape[0] + r:
                continue
            lobes = np.random.default_rng(int(near[j])).uniform(-0.5, 0.5, (3, 3))   # fixed shape per object
            grey = 200.0 + 30.0 * float(lobes[0, 2])
            for dx, dy, e in lobes:
                cv2.ellipse(img, (int((cx + dx * r) * _ONE), int((cy + dy * r) * _ONE)),
                            (int((0.6 + 0.3 * e) * r * _ONE) + 1, int((0.45 + 0.2 * e) * r * _ONE) + 1),
                            float(e * 180.0), 0, 360, (grey, grey, grey - 5.0), -1, cv2.LINE_AA, _SHIFT)

    def _motion_blur(self, img: np.ndarray, model: CameraModel, length: float) -> np.ndarray:
        """Blur along the image motion of the canopy (direction from the robot's travel)."""
        centre = np.array([[model.intrinsics.cx, model.intrinsics.cy]])
        ground = model.ground_point_from_pixel(centre, 0.75)
        moved = ground - np.array([[0.05, 0.0, 0.0]])     # the scene moves backwards in base_link
        uv0, _ = model.project_base(ground)
        uv1, _ = model.project_base(moved)
        d = (uv1 - uv0)[0]
        if not np.all(np.isfinite(d)) or np.hypot(*d) < 1e-6:
            return img
        d /= np.hypot(*d)
        size = int(np.ceil(length)) | 1
        kernel = np.zeros((size, size), np.float32)
        mid = size // 2
        for t in np.linspace(-length / 2, length / 2, 4 * size):
            kernel[int(round(mid + t * d[1])), int(round(mid + t * d[0]))] = 1.0
        return cv2.filter2D(img, -1, kernel / kernel.sum())
