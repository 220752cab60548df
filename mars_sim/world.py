"""The simulated field: rows of plants, flowers with 3-D positions, sizes and latent appearance, and leaves.

All positions are in the ``map`` frame (metres, z up from the ground). Flowers per plant follow a
negative binomial (clustered) distribution; each flower carries a unit latent appearance vector drawn
around one of a few prototypes, so flowers of one prototype are look-alikes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mars_sim.config import FieldConfig, FlowerConfig

# Flower colours (BGR, 0..255) by age: cream/white on day one, pink then red on day two.
FLOWER_COLOURS_BGR = np.array([[215, 245, 250], [235, 240, 245], [190, 170, 240], [150, 110, 225]], np.float32)


@dataclass(frozen=True)
class FlowerField:
    """The true flowers and the leaves of the canopy (columns, one row per flower / leaf)."""

    ids: np.ndarray            # (N,) int64, 1-based, stable
    xyz: np.ndarray            # (N, 3) float64 map metres
    diameter_m: np.ndarray     # (N,) float64
    latent: np.ndarray         # (N, D) float32 unit rows: the flower's appearance
    prototype: np.ndarray      # (N,) int32 appearance family
    colour_bgr: np.ndarray     # (N, 3) float32
    row: np.ndarray            # (N,) int32 row index
    plant: np.ndarray          # (N,) int64 plant index within the field
    occlusion_dirs: np.ndarray     # (N, 3, 3) float32: directions of the per-flower occlusion pattern
    occlusion_phase: np.ndarray    # (N, 3) float32
    occlusion_threshold: np.ndarray  # (N,) float32: larger = rarely occluded
    prototypes: np.ndarray     # (P, D) float32 unit rows
    leaf_xyz: np.ndarray       # (L, 3) float64
    leaf_size_m: np.ndarray    # (L, 2) float64 half-axes
    leaf_angle: np.ndarray     # (L,) float64 orientation of the leaf in the ground plane (rad)
    leaf_shade: np.ndarray     # (L,) float32 0..1
    distractor_xyz: np.ndarray      # (K, 3) float64: flower-like non-flowers (lint, debris, bright bolls)
    distractor_size_m: np.ndarray   # (K,) float64
    distractor_latent: np.ndarray   # (K, D) float32 unit rows, drawn like flowers' (they look alike)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def index_of(self, flower_ids: np.ndarray) -> np.ndarray:
        """Row indices of flower ids (ids are 1..N in order)."""
        return np.asarray(flower_ids, dtype=np.int64) - 1


def row_axes(field: FieldConfig) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (2,) along the rows and across them (to the left of the row direction)."""
    c, s = np.cos(field.row_direction_rad), np.sin(field.row_direction_rad)
    return np.array([c, s]), np.array([-s, c])


def row_line(field: FieldConfig, row: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points (2,) of a row's centre line in map."""
    along, across = row_axes(field)
    start = np.asarray(field.origin_xy, dtype=float) + across * (row * field.row_spacing_m)
    return start, start + along * field.row_length_m


def occlusion_value(dirs: np.ndarray, phase: np.ndarray, view: np.ndarray, smoothness: float) -> np.ndarray:
    """Smooth per-flower occlusion pattern in [-1, 1] of unit viewing directions (M, 3) (flower -> camera)."""
    # Sum of 3 sinusoids of the viewing direction: leaves block a flower over connected ranges of view
    # angles, so occlusion comes in runs of frames and is the same at the detection and image levels.
    arg = smoothness * np.einsum("mkd,md->mk", dirs, view) + phase
    return np.sin(arg).mean(axis=1)


def generate_field(field: FieldConfig, flowers: FlowerConfig, rng: np.random.Generator,
                   occlusion_base: float, occlusion_depth_gain: float, distractors_per_m: float = 0.0) -> FlowerField:
    """Draw plants, flowers and leaves of a field."""
    along, across = row_axes(field)
    n_plants_row = max(1, int(field.row_length_m / field.plant_spacing_m))
    s = (np.arange(n_plants_row) + 0.5) * field.plant_spacing_m
    rows = np.repeat(np.arange(field.rows), n_plants_row)
    s_all = np.tile(s, field.rows) + rng.normal(0.0, 0.2 * field.plant_spacing_m, rows.size)
    present = rng.random(rows.size) >= field.plant_gap_probability
    plant_rows, plant_s = rows[present], s_all[present]
    plant_xy = (np.asarray(field.origin_xy)[None, :] + plant_s[:, None] * along[None, :]
                + (plant_rows[:, None] * field.row_spacing_m) * across[None, :])
    n_pl = plant_rows.size
    plant_ids = np.arange(n_pl, dtype=np.int64)
    # Negative binomial via its gamma-Poisson mixture: clustered flowering (some plants many, most few).
    if flowers.per_plant_mean > 0:
        lam = rng.gamma(flowers.clustering_k, flowers.per_plant_mean / flowers.clustering_k, n_pl)
        counts = rng.poisson(lam)
    else:
        counts = np.zeros(n_pl, dtype=np.int64)
    owner = np.repeat(np.arange(n_pl), counts)
    n = owner.size
    lo, hi = flowers.height_range_m
    z = np.clip(rng.normal(flowers.height_mean_m, flowers.height_sd_m, n), lo, hi)
    d_along = rng.normal(0.0, flowers.along_sd_m, n)
    d_across = rng.normal(0.0, flowers.lateral_sd_m, n)
    xy = plant_xy[owner] + d_along[:, None] * along[None, :] + d_across[:, None] * across[None, :]
    xyz = np.column_stack([xy, z])
    diameter = np.clip(rng.normal(flowers.diameter_mean_m, flowers.diameter_sd_m, n), 0.3 * flowers.diameter_mean_m,
                       2.0 * flowers.diameter_mean_m)
    dim = flowers.feature_dim
    protos = rng.normal(size=(flowers.appearance_prototypes, dim))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    proto_of = rng.integers(0, flowers.appearance_prototypes, n).astype(np.int32)
    latent = protos[proto_of] + flowers.appearance_spread * rng.normal(size=(n, dim)) / np.sqrt(dim)
    latent /= np.linalg.norm(latent, axis=1, keepdims=True)
    colour_idx = proto_of % len(FLOWER_COLOURS_BGR)
    colour = FLOWER_COLOURS_BGR[colour_idx] * rng.uniform(0.92, 1.0, (n, 1)).astype(np.float32)
    occ_dirs = rng.normal(size=(n, 3, 3))
    occ_dirs /= np.linalg.norm(occ_dirs, axis=2, keepdims=True)
    occ_phase = rng.uniform(0, 2 * np.pi, (n, 3))
    depth = 1.0 - (z - lo) / (hi - lo)          # 0 at the canopy top, 1 at the bottom
    p_occ = np.clip(occlusion_base + occlusion_depth_gain * depth, 0.0, 0.98)
    # The mean of 3 random-phase sinusoids is close to normal with sd sqrt(1.5)/3.
    threshold = _normal_quantile(1.0 - p_occ) * (np.sqrt(1.5) / 3.0)
    n_leaves = n_pl * field.leaves_per_plant
    leaf_owner = np.repeat(np.arange(n_pl), field.leaves_per_plant)
    leaf_xy = (plant_xy[leaf_owner] + rng.normal(0, 0.05, n_leaves)[:, None] * along[None, :]
               + rng.normal(0, 0.16, n_leaves)[:, None] * across[None, :])
    leaf_z = rng.uniform(0.15, hi * 1.05, n_leaves)
    # Distractors: uniformly along the rows, anywhere in the canopy or on the ground.
    n_dis = int(rng.poisson(distractors_per_m * field.rows * field.row_length_m))
    dis_row = rng.integers(0, field.rows, n_dis)
    dis_s = rng.uniform(0.0, field.row_length_m, n_dis)
    dis_xy = (np.asarray(field.origin_xy)[None, :] + dis_s[:, None] * along[None, :]
              + (dis_row[:, None] * field.row_spacing_m + rng.normal(0.0, 0.2, n_dis)[:, None]) * across[None, :])
    dis_z = np.where(rng.random(n_dis) < 0.3, 0.0, rng.uniform(lo, hi, n_dis))
    dis_latent = protos[rng.integers(0, flowers.appearance_prototypes, n_dis)] \
        + flowers.appearance_spread * rng.normal(size=(n_dis, dim)) / np.sqrt(dim)
    dis_latent /= np.maximum(np.linalg.norm(dis_latent, axis=1, keepdims=True), 1e-12)
    order = np.lexsort((xyz[:, 1], xyz[:, 0], plant_rows[owner] if n else np.zeros(0)))
    return FlowerField(
        ids=np.arange(1, n + 1, dtype=np.int64), xyz=xyz[order], diameter_m=diameter[order],
        latent=latent[order].astype(np.float32), prototype=proto_of[order], colour_bgr=colour[order],
        row=plant_rows[owner][order].astype(np.int32), plant=plant_ids[owner][order],
        occlusion_dirs=occ_dirs[order].astype(np.float32), occlusion_phase=occ_phase[order].astype(np.float32),
        occlusion_threshold=threshold[order].astype(np.float32), prototypes=protos.astype(np.float32),
        leaf_xyz=np.column_stack([leaf_xy, leaf_z]),
        leaf_size_m=np.column_stack([rng.uniform(0.05, 0.09, n_leaves), rng.uniform(0.035, 0.065, n_leaves)]),
        leaf_angle=rng.uniform(0, np.pi, n_leaves), leaf_shade=rng.uniform(0, 1, n_leaves).astype(np.float32),
        distractor_xyz=np.column_stack([dis_xy, dis_z]).reshape(-1, 3),
        distractor_size_m=rng.uniform(0.5, 1.2, n_dis) * flowers.diameter_mean_m,
        distractor_latent=dis_latent.astype(np.float32).reshape(-1, dim))


def _normal_quantile(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (scipy's ndtri)."""
    from scipy.special import ndtri
    return ndtri(np.clip(p, 1e-6, 1 - 1e-6))
