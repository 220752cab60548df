"""The batched box Kalman filter equals filterpy's KalmanFilter step by step."""
from __future__ import annotations

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter

from mars_tracker.box_kalman import BoxKalmanModel, box_sizes, transition_matrix


def _filterpy_step(kf: KalmanFilter, model: BoxKalmanModel, dt: float, z: np.ndarray) -> None:
    size = box_sizes(kf.x[:4, 0][None, :])
    kf.F = transition_matrix(dt)
    kf.Q = model.process_noise(dt, size)[0]
    kf.predict()
    kf.R = model.measurement_covariance(box_sizes(kf.x[:4, 0][None, :]))[0]
    kf.update(z)


def test_batched_filter_matches_filterpy_with_uneven_time_steps() -> None:
    model = BoxKalmanModel()
    rng = np.random.default_rng(0)
    boxes = np.array([[100.0, 200.0, 40.0, 50.0], [500.0, 80.0, 20.0, 18.0], [30.0, 30.0, 200.0, 100.0]])
    velocity = np.array([[-300.0, 10.0], [0.0, 0.0], [50.0, -20.0]])
    x, p = model.initiate(boxes, velocity)
    kfs = []
    for i in range(3):
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.x = x[i][:, None].copy()
        kf.P = p[i].copy()
        kf.H = np.hstack([np.eye(4), np.zeros((4, 4))])
        kfs.append(kf)
    for dt in (1 / 30, 2 / 30, 1 / 15 + 0.004, 0.2, 1 / 30):   # dropped frames, jitter
        z = x[:, :4] + rng.normal(size=(3, 4)) * 2.0
        for i, kf in enumerate(kfs):
            _filterpy_step(kf, model, dt, z[i])
        x, p = model.predict(x, p, dt)
        x, p = model.update(x, p, z)
        for i, kf in enumerate(kfs):
            np.testing.assert_allclose(x[i], kf.x[:, 0], rtol=1e-9, atol=1e-8)
            np.testing.assert_allclose(p[i], kf.P, rtol=1e-7, atol=1e-8)


def test_per_row_time_steps_equal_scalar_steps() -> None:
    model = BoxKalmanModel()
    boxes = np.array([[10.0, 20.0, 30.0, 40.0], [300.0, 200.0, 60.0, 50.0]])
    x, p = model.initiate(boxes, np.array([[100.0, 0.0], [-50.0, 30.0]]))
    xa, pa = model.predict(x, p, np.array([0.05, 0.3]))
    for i, dt in enumerate((0.05, 0.3)):
        xs, ps = model.predict(x[i:i + 1], p[i:i + 1], dt)
        np.testing.assert_allclose(xa[i], xs[0], rtol=1e-12)
        np.testing.assert_allclose(pa[i], ps[0], rtol=1e-12)
    # The closed-form block used per row is filterpy's block.
    q = model.process_noise(np.array([0.3]), box_sizes(x[1:2, :4]))[0]
    unit = Q_discrete_white_noise(dim=2, dt=0.3, var=1.0)
    var = (model.acceleration_noise * box_sizes(x[1:2, :4])[0]) ** 2
    np.testing.assert_allclose(q[[0, 0, 4], [0, 4, 4]], var * unit[[0, 0, 1], [0, 1, 1]], rtol=1e-12)


def test_prediction_uses_real_time_not_frames() -> None:
    model = BoxKalmanModel()
    x, p = model.initiate(np.array([[100.0, 100.0, 20.0, 20.0]]), np.array([[300.0, -60.0]]))
    x1, _ = model.predict(x, p, 0.5)
    np.testing.assert_allclose(x1[0, :2], [250.0, 70.0])


def test_scalar_process_noise_is_filterpys_block_bit_for_bit() -> None:
    model = BoxKalmanModel()
    size = np.array([37.5])
    for dt in (1 / 30, 0.0334127, 0.2, 1.7):
        q = model.process_noise(dt, size)[0]
        unit = Q_discrete_white_noise(dim=2, dt=dt, var=1.0)
        for i, rel in enumerate((model.acceleration_noise,) * 2 + (model.size_change_noise,) * 2):
            var = (size[0] * rel) ** 2
            block = q[np.ix_([i, i + 4], [i, i + 4])]
            assert np.array_equal(block, var * unit), (dt, i)
