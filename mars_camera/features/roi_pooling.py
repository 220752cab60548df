"""Vectorised ROI-align (bilinear sampling, average per bin) over one feature map, for many boxes at once."""
from __future__ import annotations

import numpy as np

from mars_core.jit import kernel


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

    ky, kx = _sample_grid(output_size, sampling_ratio)   # bin-major sample positions, 1 / (output_size * s) units
    pooled = np.zeros((n * bins, channels), np.float32)
    _pool_boxes(flat.astype(np.float32, copy=False), bool(channels_last), boxes, np.float32(spatial_scale),
                height, width, ky, kx, sampling_ratio, bins, pooled)
    return pooled.reshape(n, bins * channels)


@kernel
def _pool_boxes(data: np.ndarray, channels_last: bool, boxes: np.ndarray, spatial_scale: np.float32, height: int,
                width: int, ky: np.ndarray, kx: np.ndarray, s: int, bins: int, out: np.ndarray) -> None:
    """ROI-align of every box into out[(box, bin), channel], from data (H*W, C) or (C, H*W).

    Every value is computed in float32 in the order the earlier numpy + sparse-matrix version used (sample
    positions, validity, bilinear corners, then the sum of s*s samples x 4 corners of a bin in order), so the
    features are bit-identical to it; one pass per box, straight from the map in either layout (no copy)."""
    channels = out.shape[1]
    half = np.float32(0.5)
    one = np.float32(1.0)
    lowest = np.float32(-1.0)
    top_y = np.float32(height)
    top_x = np.float32(width)
    scale = one / np.float32(s * s)            # average of the s*s samples of a bin
    per_bin = s * s
    per_row = per_bin * 4
    cols = np.empty(bins * per_row, np.int64)      # one box's bilinear corners (bin, sample, corner) ...
    vals = np.empty(bins * per_row, np.float32)    # ... and their weights
    for n in range(boxes.shape[0]):
        x_lo = boxes[n, 0] * spatial_scale - half    # aligned=True: pixel centres at +0.5
        y_lo = boxes[n, 1] * spatial_scale - half
        roi_w = (boxes[n, 2] * spatial_scale - half) - x_lo
        roi_h = (boxes[n, 3] * spatial_scale - half) - y_lo
        for p in range(bins * per_bin):
            py = y_lo + roi_h * ky[p]
            px = x_lo + roi_w * kx[p]
            weight = scale if (py >= lowest and py <= top_y and px >= lowest and px <= top_x) else np.float32(0.0)
            py = max(py, np.float32(0.0))
            px = max(px, np.float32(0.0))
            y0 = min(int(np.floor(py)), height - 1)
            x0 = min(int(np.floor(px)), width - 1)
            y1 = min(y0 + 1, height - 1)
            x1 = min(x0 + 1, width - 1)
            if y0 >= height - 1:
                py = np.float32(y0)
            if x0 >= width - 1:
                px = np.float32(x0)
            ly = py - np.float32(y0)
            lx = px - np.float32(x0)
            hy = one - ly
            hx = one - lx
            k = 4 * p
            cols[k], cols[k + 1], cols[k + 2], cols[k + 3] = (y0 * width + x0, y0 * width + x1, y1 * width + x0,
                                                              y1 * width + x1)
            vals[k], vals[k + 1] = hy * hx * weight, hy * lx * weight
            vals[k + 2], vals[k + 3] = ly * hx * weight, ly * lx * weight
        for b in range(bins):
            row = n * bins + b
            for k in range(b * per_row, (b + 1) * per_row):
                w = vals[k]
                col = cols[k]
                if channels_last:
                    pixel = data[col]
                    for c in range(channels):
                        out[row, c] += w * pixel[c]
                else:
                    for c in range(channels):
                        out[row, c] += w * data[c, col]


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
