"""Vectorised ROI-align (bilinear sampling, average per bin) over one feature map, for many boxes at once."""
from __future__ import annotations

import numpy as np


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
    # Offsets (in units of the ROI size) of every sample point, bin-major, row-major inside a bin.
    steps = (np.arange(output_size * s, dtype=np.float32) + 0.5) / np.float32(output_size * s)
    ys = b[:, 1:2] + roi_h[:, None] * steps[None, :]          # (N, out*s)
    xs = b[:, 0:1] + roi_w[:, None] * steps[None, :]
    py = np.repeat(ys, output_size * s, axis=1)               # (N, (out*s)^2): row index varies slowest
    px = np.tile(xs, (1, output_size * s))

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
    w00 = hy * hx * valid
    w01 = hy * lx * valid
    w10 = ly * hx * valid
    w11 = ly * lx * valid

    idx = np.stack([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1], axis=-1)  # (N, P, 4)
    weights = np.stack([w00, w01, w10, w11], axis=-1).astype(np.float32)                           # (N, P, 4)
    points = idx.shape[1]
    if channels_last:
        gathered = flat[idx.reshape(-1)].astype(np.float32, copy=False).reshape(n, points, 4, channels)
        sampled = np.einsum("npkc,npk->npc", gathered, weights)                                 # (N, P, C)
    else:
        gathered = flat[:, idx.reshape(-1)].astype(np.float32, copy=False).reshape(channels, n, points, 4)
        sampled = np.einsum("cnpk,npk->npc", gathered, weights)
    # Average the s*s samples of each bin: reshape the point axis to (out, s, out, s).
    sampled = sampled.reshape(n, output_size, s, output_size, s, channels).mean(axis=(2, 4))
    return sampled.reshape(n, bins * channels).astype(np.float32, copy=False)
