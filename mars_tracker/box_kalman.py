"""Constant-velocity Kalman filter of boxes [cx, cy, w, h, vcx, vcy, vw, vh], batched over many tracks.

The model (transition, white-noise-acceleration process noise from ``filterpy.common``, measurement of the box)
is the textbook one filterpy's ``KalmanFilter`` runs per object; here the same equations run on stacked
(N, 8) states and (N, 8, 8) covariances so that a frame costs a few numpy calls instead of N Python objects
(test_box_kalman checks equality with filterpy's KalmanFilter step by step). Velocities are pixels per
SECOND and every step uses the real time between stamps, so dropped frames and mixed frame rates are exact.
Noise scales with the box size: a 20 px flower and a 200 px person are equally (un)certain in relative terms.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, TypeVar, Union

import numpy as np

STATE_DIM = 8
MEASUREMENT_DIM = 4
_IDX4 = np.arange(4)
_Q_FLAT_INDEX = np.concatenate([_IDX4 * 9, _IDX4 * 8 + _IDX4 + 4, (_IDX4 + 4) * 8 + _IDX4, (_IDX4 + 4) * 9])
_MIN_SIZE_PX = 1.0


def transition_matrix(dt: float) -> np.ndarray:
    """State transition F (8, 8) of a constant-velocity box over dt seconds."""
    f = np.eye(STATE_DIM)
    f[0:4, 4:8] = np.eye(4) * dt
    return f


_Dt = TypeVar("_Dt", float, np.ndarray)


def _unit_white_noise(dt: _Dt) -> Tuple[_Dt, _Dt, _Dt]:
    """filterpy's 2x2 discrete white-noise block (unit variance) for dt (a float, or one per row):
    (dt^4/4, dt^3/2, dt^2).

    Closed form of ``Q_discrete_white_noise(dim=2, dt=dt, var=1)`` (test_box_kalman checks it is identical):
    calling filterpy per frame cost a tenth of the tracker's time, and a cache misses when stamps jitter.
    """
    return 0.25 * dt ** 4, 0.5 * dt ** 3, dt ** 2


def box_sizes(xywh: np.ndarray) -> np.ndarray:
    """Scale of each box (N,): mean of width and height, at least 1 px."""
    return np.maximum(0.5 * (xywh[:, 2] + xywh[:, 3]), _MIN_SIZE_PX)


@dataclass(frozen=True)
class BoxKalmanModel:
    """Noise levels of the box filter, relative to the box size (see TrackerConfig for their meaning)."""

    measurement_noise: float = 0.05
    size_measurement_noise: float = 0.08
    acceleration_noise: float = 4.0
    size_change_noise: float = 1.0
    initial_velocity_std: float = 8.0
    # Per-coordinate relative noise, built once: predict and gating run every frame.
    _process_rel: np.ndarray = field(init=False, repr=False, compare=False)
    _measurement_rel: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_process_rel",
                           np.array([self.acceleration_noise] * 2 + [self.size_change_noise] * 2))
        object.__setattr__(self, "_measurement_rel",
                           np.array([self.measurement_noise] * 2 + [self.size_measurement_noise] * 2))

    def process_noise(self, dt: Union[float, np.ndarray], sizes: np.ndarray) -> np.ndarray:
        """Q (N, 8, 8) for a step of dt seconds (scalar or per row): filterpy's white-noise block per coordinate."""
        a: Union[float, np.ndarray]
        b: Union[float, np.ndarray]
        c: Union[float, np.ndarray]
        if np.ndim(dt) == 0:
            a, b, c = _unit_white_noise(float(dt))
        else:
            a, b, c = (v[:, None] for v in _unit_white_noise(np.asarray(dt, dtype=np.float64)))
        q = (sizes[:, None] * self._process_rel[None, :]) ** 2                     # (N, 4) acceleration variances
        n = sizes.shape[0]
        out = np.zeros((n, STATE_DIM * STATE_DIM))
        # One scatter of the 16 non-zero entries per track: (i,i) a, (i,i+4) and (i+4,i) b, (i+4,i+4) c.
        values = np.concatenate([q * a, q * b, q * b, q * c], axis=1)
        out[:, _Q_FLAT_INDEX] = values
        return out.reshape(n, STATE_DIM, STATE_DIM)

    def measurement_covariance(self, sizes: np.ndarray) -> np.ndarray:
        """R (N, 4, 4) of detected boxes of the given sizes."""
        out = np.zeros((sizes.shape[0], MEASUREMENT_DIM, MEASUREMENT_DIM))
        out[:, _IDX4, _IDX4] = (sizes[:, None] * self._measurement_rel[None, :]) ** 2
        return out

    def initiate(self, xywh: np.ndarray, velocity: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """States (N, 8) and covariances (N, 8, 8) of new tracks at boxes with guessed centre velocities (N, 2)."""
        n = xywh.shape[0]
        x = np.zeros((n, STATE_DIM))
        x[:, 0:4] = xywh
        x[:, 4:6] = velocity
        s = box_sizes(xywh)
        std = np.stack([2 * self.measurement_noise * s, 2 * self.measurement_noise * s,
                        2 * self.size_measurement_noise * s, 2 * self.size_measurement_noise * s,
                        self.initial_velocity_std * s, self.initial_velocity_std * s,
                        self.size_change_noise * s, self.size_change_noise * s], axis=1)
        p = np.zeros((n, STATE_DIM, STATE_DIM))
        idx = np.arange(STATE_DIM)
        p[:, idx, idx] = std ** 2
        return x, p

    def predict(self, x: np.ndarray, p: np.ndarray, dt: Union[float, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """States and covariances dt seconds later (dt scalar or one per row; new arrays)."""
        if x.shape[0] == 0 or (np.ndim(dt) == 0 and dt == 0.0):
            return x.copy(), p.copy()
        q = self.process_noise(dt, box_sizes(x[:, 0:4]))
        if np.ndim(dt) == 0:
            f = transition_matrix(float(dt))
            x_new = x @ f.T
            p_new = f @ p @ f.T + q
        else:
            f = np.broadcast_to(np.eye(STATE_DIM), (x.shape[0], STATE_DIM, STATE_DIM)).copy()
            idx = np.arange(4)
            f[:, idx, idx + 4] = np.asarray(dt, dtype=np.float64)[:, None]
            x_new = np.einsum("nij,nj->ni", f, x)
            p_new = f @ p @ np.swapaxes(f, 1, 2) + q
        # A box cannot shrink below a pixel, whatever its size velocity says.
        x_new[:, 2:4] = np.maximum(x_new[:, 2:4], _MIN_SIZE_PX)
        return x_new, p_new

    def innovation_covariance(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """S = H P H' + R (N, 4, 4) of the predicted boxes."""
        return p[:, 0:4, 0:4] + self.measurement_covariance(box_sizes(x[:, 0:4]))

    def update(self, x: np.ndarray, p: np.ndarray, z: np.ndarray,
               s_inv: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Posterior states and covariances after measuring boxes z (N, 4).

        ``s_inv`` may pass the inverse innovation covariances already computed for gating. P = P - K S K'
        (equal to filterpy's Joseph form for the optimal gain, at a third of the cost).
        """
        if x.shape[0] == 0:
            return x.copy(), p.copy()
        if s_inv is None:
            s_inv = np.linalg.inv(self.innovation_covariance(x, p))
        ph = p[:, :, 0:4]                                            # P H'  (N, 8, 4)
        k = ph @ s_inv                                               # K = P H' S^-1
        y = z - x[:, 0:4]
        x_new = x + (k @ y[:, :, None])[:, :, 0]
        p_new = p - k @ np.swapaxes(ph, 1, 2)                        # P - K H P
        p_new = 0.5 * (p_new + np.swapaxes(p_new, 1, 2))             # keep it exactly symmetric
        return x_new, p_new


def squared_mahalanobis(predicted: np.ndarray, s_inv: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distances (T, D) of detected boxes (D, 4) from predicted boxes (T, 4), S^-1 (T, 4, 4).

    Expanded as b'Ab - 2 a'Ab + a'Aa so that every pair costs two small matrix products instead of a (T, D, 4)
    batch of vector-matrix products; coordinates are taken relative to the first prediction to keep the three
    terms small (the cancellation error stays far below any gate).
    """
    n_t, n_d = predicted.shape[0], boxes.shape[0]
    if n_t == 0 or n_d == 0:
        return np.zeros((n_t, n_d))
    origin = predicted[0]
    a = predicted - origin
    b = boxes - origin
    bb = (b[:, :, None] * b[:, None, :]).reshape(n_d, 16)           # b b' flattened, (D, 16)
    a_s = np.einsum("ti,tij->tj", a, s_inv)                          # a' S^-1, (T, 4)
    d2 = s_inv.reshape(n_t, 16) @ bb.T - 2.0 * (a_s @ b.T) + (a_s * a).sum(axis=1)[:, None]
    return np.maximum(d2, 0.0)
