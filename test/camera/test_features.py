"""ROI-aligned feature pooling, L2 normalisation, projection and the feature model id."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mars_camera.features import BoxFeatureExtractor, l2_normalize, projection_matrix, roi_align


def _bilinear(fmap_hwc, y, x):
    h, w, _ = fmap_hwc.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(fmap_hwc.shape[2])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * fmap_hwc[y0, x0] + (1 - ly) * lx * fmap_hwc[y0, x1]
            + ly * (1 - lx) * fmap_hwc[y1, x0] + ly * lx * fmap_hwc[y1, x1])


def _reference_roi_align(fmap_hwc, box, scale, out, s):
    """torchvision roi_align(aligned=True) written as plain loops."""
    x0, y0, x1, y1 = [v * scale - 0.5 for v in box]
    bw, bh = (x1 - x0) / out, (y1 - y0) / out
    result = []
    for by in range(out):
        for bx in range(out):
            acc = np.zeros(fmap_hwc.shape[2])
            for iy in range(s):
                for ix in range(s):
                    y = y0 + by * bh + (iy + 0.5) * bh / s
                    x = x0 + bx * bw + (ix + 0.5) * bw / s
                    acc += _bilinear(fmap_hwc, y, x)
            result.append(acc / (s * s))
    return np.concatenate(result)


@pytest.mark.parametrize("out", [1, 2])
def test_roi_align_matches_the_plain_reference(out):
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(10, 12, 5)).astype(np.float32)
    boxes = np.array([[8, 8, 40, 30], [0, 0, 96, 80], [-20, 60, 10, 100], [50.5, 3.3, 52.0, 9.9]], np.float32)
    got = roi_align(fmap, boxes, 1 / 8, out, 2, channels_last=True)
    for i, box in enumerate(boxes):
        np.testing.assert_allclose(got[i], _reference_roi_align(fmap, box, 1 / 8, out, 2), atol=1e-5)
    chw = roi_align(np.ascontiguousarray(fmap.transpose(2, 0, 1))[None], boxes, 1 / 8, out, 2, channels_last=False)
    np.testing.assert_allclose(chw, got, atol=1e-6)
    assert roi_align(fmap, np.zeros((0, 4)), 1 / 8, out).shape == (0, 5 * out * out)


def test_features_are_unit_vectors_of_the_configured_dimension():
    rng = np.random.default_rng(1)
    fmap = rng.normal(size=(40, 40, 64)).astype(np.float32)
    boxes = np.array([[10, 10, 60, 60], [100, 120, 140, 170]], np.float32)
    native = BoxFeatureExtractor(64, 8, 0, pool_size=1, base_model_id="m-1")
    f = native(fmap, boxes, channels_last=True)
    assert f.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    small = BoxFeatureExtractor(64, 8, 16, pool_size=2, base_model_id="m-1")
    g = small(fmap, boxes, channels_last=True)
    assert g.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-5)
    assert native.model_id != small.model_id and native.model_id.startswith("m-1/")
    # The projection is fixed: a second extractor (another camera) gives identical vectors.
    np.testing.assert_array_equal(BoxFeatureExtractor(64, 8, 16, 2, "m-1")(fmap, boxes, True), g)


def test_projection_roughly_preserves_cosine_similarity():
    rng = np.random.default_rng(2)
    x = l2_normalize(rng.normal(size=(50, 256)))
    p = projection_matrix(256, 128)
    np.testing.assert_allclose(p.T @ p, np.eye(128), atol=1e-5)
    y = l2_normalize(x @ p)
    err = np.abs((x @ x.T) - (y @ y.T))
    assert err.mean() < 0.08
    with pytest.raises(ValueError, match="exceeds"):
        projection_matrix(16, 32)


def test_same_object_in_two_frames_is_more_similar_than_different_objects():
    rng = np.random.default_rng(3)
    fmap = rng.normal(size=(40, 40, 64)).astype(np.float32)
    shifted = np.roll(fmap, 2, axis=1)  # the scene moved 2 cells (16 px) right
    ext = BoxFeatureExtractor(64, 8, 64, 1, "m")
    a = ext(fmap, np.array([[80, 80, 160, 160]], np.float32), True)
    b = ext(shifted, np.array([[96, 80, 176, 160]], np.float32), True)
    c = ext(shifted, np.array([[200, 200, 280, 280]], np.float32), True)
    assert float((a @ b.T)[0, 0]) > 0.99 > float((a @ c.T)[0, 0])


def _sparse_roi_align(fmap, boxes, spatial_scale, output_size, s, channels_last):
    """The numpy + scipy sparse-matrix ROI-align the compiled kernel replaced (its float32 arithmetic)."""
    from scipy import sparse

    from mars_camera.features.roi_pooling import _sample_grid

    if channels_last:
        height, width, channels = fmap.shape
        flat = fmap.reshape(height * width, channels)
    else:
        channels, height, width = fmap.shape
        flat = fmap.reshape(channels, height * width)
    n, bins = boxes.shape[0], output_size * output_size
    b = boxes * np.float32(spatial_scale) - np.float32(0.5)
    roi_w, roi_h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    ky, kx = _sample_grid(output_size, s)
    py = b[:, 1:2] + roi_h[:, None] * ky[None, :]
    px = b[:, 0:1] + roi_w[:, None] * kx[None, :]
    valid = (py >= -1.0) & (py <= height) & (px >= -1.0) & (px <= width)
    py, px = np.clip(py, 0.0, None), np.clip(px, 0.0, None)
    y0 = np.minimum(np.floor(py).astype(np.int64), height - 1)
    x0 = np.minimum(np.floor(px).astype(np.int64), width - 1)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    py = np.where(y0 >= height - 1, y0.astype(np.float32), py)
    px = np.where(x0 >= width - 1, x0.astype(np.float32), px)
    ly, lx = (py - y0).astype(np.float32), (px - x0).astype(np.float32)
    hy, hx = 1.0 - ly, 1.0 - lx
    scale = valid.astype(np.float32) / np.float32(s * s)
    cols = np.stack([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1], axis=-1)
    vals = np.stack([hy * hx * scale, hy * lx * scale, ly * hx * scale, ly * lx * scale], axis=-1)
    per_row = s * s * 4
    indptr = np.arange(0, n * bins * per_row + 1, per_row, dtype=np.int64)
    matrix = sparse.csr_matrix((vals.reshape(-1), cols.reshape(-1), indptr), shape=(n * bins, height * width))
    pooled = matrix @ (flat if channels_last else flat.T)
    return np.asarray(pooled, dtype=np.float32).reshape(n, bins * channels)


@pytest.mark.parametrize("channels_last", [True, False])
def test_the_compiled_roi_align_is_bit_identical_to_the_sparse_product(channels_last):
    rng = np.random.default_rng(5)
    for trial in range(40):
        h, w, c = (int(v) for v in rng.integers(4, 60, 3))
        fmap = rng.normal(size=(h, w, c) if channels_last else (c, h, w)).astype(np.float32)
        xy = rng.uniform(-20, 8 * max(h, w) + 20, (int(rng.integers(0, 40)), 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(0, 90, xy.shape).astype(np.float32)], 1)
        for out in (1, 3):
            np.testing.assert_array_equal(roi_align(fmap, boxes, 1 / 8, out, 2, channels_last),
                                          _sparse_roi_align(fmap, boxes, 1 / 8, out, 2, channels_last))
