"""Vectorised ROI-align (bilinear sampling, average per bin) over one feature map, for many boxes at once."""
from __future__ import annotations

import numpy as np
from scipy import sparse


def roi_align(feature_map: np.ndarray, boxes_xyxy: np.ndarray, spatial_scale: float, output_size: int = 1,
              sampling_ratio: int = 2, channels_last: bool = True) -> np.ndarray:
    """Pool (N, C * output_size**2) values for N xyxy boxes given in model-input pixels.

    feature_map: (H, W, C) when channels_last else (C, H, W) (a leading batch axis of 1 is accepted);
    spatial_scale = 1 / stride. Same sampling as torchvision.ops.roi_align(aligned=True) with a fixed
    sampling_ratio: pixel centres at half-integers, points outside the map contribute zero.
    Output rows are bin-major (bin 0 channels, bin 1 channels, ...).
    """
    fmap = np.asarray(feature_map)
    if fmap.ndim == 4:
        if fmap.shape[0] != 1:
            raise ValueError(f"feature map batch must be 1, got shape {fmap.shape}")
        fmap = fmap[0]
    if fmap.ndim != 3:
        raise ValueError(f"feature map must be 3-D (H, W, C) or (C, H, W), got shape {feature_map.shape}")
    if channels_last:
        height, width, channels = fmap.shape
        flat = fmap.reshape(height * width, channels)
    else:
        channels, height, width = fmap.shape
        flat = fmap.reshape(channels, height * width)
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    n = boxes.shape[0]
    bins = output_size * output_size
    if n == 0:
        return np.zeros((0, channels * bins), np.float32)

    b = boxes * np.float32(spatial_scale) - np.float32(0.5)  # aligned=True: pixel centres at +0.5
    roi_w = b[:, 2] - b[:, 0]
    roi_h = b[:, 3] - b[:, 1]
    s = sampling_ratio
    ky, kx = _sample_grid(output_size, s)   # bin-major sample positions in units of 1 / (output_size * s)
    py = b[:, 1:2] + roi_h[:, None] * ky[None, :]          # (N, P)
    px = b[:, 0:1] + roi_w[:, None] * kx[None, :]

    valid = (py >= -1.0) & (py <= height) & (px >= -1.0) & (px <= width)
    py = np.clip(py, 0.0, None)
    px = np.clip(px, 0.0, None)
    y0 = np.minimum(np.floor(py).astype(np.int64), height - 1)
    x0 = np.minimum(np.floor(px).astype(np.int64), width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    x1 = np.minimum(x0 + 1, width - 1)
    py = np.where(y0 >= height - 1, y0.astype(np.float32), py)
    px = np.where(x0 >= width - 1, x0.astype(np.float32), px)
    ly = (py - y0).astype(np.float32)
    lx = (px - x0).astype(np.float32)
    hy = 1.0 - ly
    hx = 1.0 - lx
    scale = valid.astype(np.float32) / np.float32(s * s)   # average of the s*s samples of a bin

    # A sparse (N*bins, H*W) interpolation matrix in CSR form, built directly: samples are bin-major, so
    # each row (box, bin) owns a contiguous run of s*s samples x 4 bilinear corners. Pooling is then one
    # sparse x dense product (nnz * C multiply-adds) instead of gathering every corner's channels.
    cols = np.stack([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1], axis=-1)
    vals = np.stack([hy * hx * scale, hy * lx * scale, ly * hx * scale, ly * lx * scale], axis=-1)
    per_row = s * s * 4
    indptr = np.arange(0, n * bins * per_row + 1, per_row, dtype=np.int64)
    matrix = sparse.csr_matrix((vals.reshape(-1), cols.reshape(-1), indptr), shape=(n * bins, height * width))
    data = flat.astype(np.float32, copy=False)
    pooled = matrix @ (data if channels_last else data.T)   # (N*bins, C)
    return np.asarray(pooled, dtype=np.float32).reshape(n, bins * channels)


_GRIDS: dict = {}


def _sample_grid(output_size: int, s: int) -> "tuple[np.ndarray, np.ndarray]":
    """Relative (y, x) of every sample point, ordered bin by bin (row-major bins, row-major samples)."""
    key = (output_size, s)
    if key not in _GRIDS:
        by, bx, iy, ix = np.meshgrid(np.arange(output_size), np.arange(output_size), np.arange(s), np.arange(s),
                                     indexing="ij")
        ky = ((by * s + iy).reshape(-1) + 0.5) / (output_size * s)
        kx = ((bx * s + ix).reshape(-1) + 0.5) / (output_size * s)
        _GRIDS[key] = (ky.astype(np.float32), kx.astype(np.float32))
    return _GRIDS[key]
