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

from mars_core.jit import kernel

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
        x_new = np.empty_like(x)
        p_new = np.empty_like(p)
        self.predict_into(x, p, dt, x_new, p_new)
        return x_new, p_new

    def predict_into(self, x: np.ndarray, p: np.ndarray, dt: Union[float, np.ndarray], x_out: np.ndarray,
                     p_out: np.ndarray) -> None:
        """predict() written into x_out, p_out (which may be x and p themselves: updated in place)."""
        if np.ndim(dt) == 0:
            a, b, c = _unit_white_noise(float(dt))
            steps = np.array([[float(dt), a, b, c]])
        else:
            dt_rows = np.asarray(dt, dtype=np.float64)
            steps = np.stack((dt_rows,) + _unit_white_noise(dt_rows), axis=1)
        _predict_rows(x, p, steps, self._process_rel, x_out, p_out)

    def innovation_covariance(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """S = H P H' + R (N, 4, 4) of the predicted boxes."""
        return p[:, 0:4, 0:4] + self.measurement_covariance(box_sizes(x[:, 0:4]))

    def innovation_inverse(self, x: np.ndarray, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """S (N, 4, 4) of the predicted boxes and its inverse, in one pass."""
        s = np.empty((x.shape[0], MEASUREMENT_DIM, MEASUREMENT_DIM))
        s_inv = np.empty_like(s)
        _innovation_rows(x, p, self._measurement_rel, s, s_inv)
        return s, s_inv

    def update(self, x: np.ndarray, p: np.ndarray, z: np.ndarray,
               s_inv: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Posterior states and covariances after measuring boxes z (N, 4).

        ``s_inv`` may pass the inverse innovation covariances already computed for gating. P = P - K S K'
        (equal to filterpy's Joseph form for the optimal gain, at a third of the cost).
        """
        if x.shape[0] == 0:
            return x.copy(), p.copy()
        if s_inv is None:
            s_inv = self.innovation_inverse(x, p)[1]
        x_new = np.empty_like(x)
        p_new = np.empty_like(p)
        _update_rows(x, p, np.ascontiguousarray(z, dtype=np.float64), s_inv, x_new, p_new)
        return x_new, p_new


# ---------------------------------------------------------------------------- compiled kernels (mars_core.jit)
@kernel
def _predict_rows(x: np.ndarray, p: np.ndarray, steps: np.ndarray, process_rel: np.ndarray, x_out: np.ndarray,
                  p_out: np.ndarray) -> None:
    """x' = F x, P' = F P F' + Q per row; steps (1 or N, 4) holds dt and the unit white-noise block a, b, c.

    F is the identity plus dt on (i, i+4), so F P F' adds dt times the velocity rows, then columns, instead of
    two 8x8 products; Q uses the box size BEFORE the step (as process_noise). x_out, p_out may alias x, p.
    """
    fp = np.empty((STATE_DIM, STATE_DIM))
    for i in range(x.shape[0]):
        k = i if steps.shape[0] > 1 else 0
        dt, a, b, c = steps[k, 0], steps[k, 1], steps[k, 2], steps[k, 3]
        size = max(0.5 * (x[i, 2] + x[i, 3]), _MIN_SIZE_PX)
        for r in range(STATE_DIM):                     # F P: position rows gain dt * velocity rows
            for s in range(STATE_DIM):
                fp[r, s] = p[i, r, s] + dt * p[i, r + 4, s] if r < 4 else p[i, r, s]
        for r in range(STATE_DIM):                     # (F P) F': position columns gain dt * velocity columns
            for s in range(STATE_DIM):
                p_out[i, r, s] = fp[r, s] + dt * fp[r, s + 4] if s < 4 else fp[r, s]
        for j in range(4):                             # + Q: filterpy's white-noise block per coordinate
            q = (size * process_rel[j]) ** 2
            p_out[i, j, j] += q * a
            p_out[i, j, j + 4] += q * b
            p_out[i, j + 4, j] += q * b
            p_out[i, j + 4, j + 4] += q * c
        for j in range(4):
            x_out[i, j] = x[i, j] + dt * x[i, j + 4]
        for j in range(4, STATE_DIM):
            x_out[i, j] = x[i, j]
        # A box cannot shrink below a pixel, whatever its size velocity says.
        x_out[i, 2] = max(x_out[i, 2], _MIN_SIZE_PX)
        x_out[i, 3] = max(x_out[i, 3], _MIN_SIZE_PX)


@kernel
def _invert_4x4(m: np.ndarray, out: np.ndarray) -> None:
    """out = m^-1 for one 4x4 matrix: Gauss-Jordan elimination with partial pivoting (m is left unchanged)."""
    work = np.empty((4, 8))
    for r in range(4):
        for c in range(4):
            work[r, c] = m[r, c]
            work[r, c + 4] = 1.0 if r == c else 0.0
    for col in range(4):
        pivot = col
        for r in range(col + 1, 4):
            if abs(work[r, col]) > abs(work[pivot, col]):
                pivot = r
        if pivot != col:
            for c in range(8):
                work[col, c], work[pivot, c] = work[pivot, c], work[col, c]
        inv_pivot = 1.0 / work[col, col]
        for c in range(8):
            work[col, c] *= inv_pivot
        for r in range(4):
            if r != col:
                factor = work[r, col]
                for c in range(8):
                    work[r, c] -= factor * work[col, c]
    for r in range(4):
        for c in range(4):
            out[r, c] = work[r, c + 4]


@kernel
def _innovation_rows(x: np.ndarray, p: np.ndarray, measurement_rel: np.ndarray, s_out: np.ndarray,
                     s_inv_out: np.ndarray) -> None:
    """S = H P H' + R per row (R from the box size, as measurement_covariance) and S^-1."""
    for i in range(x.shape[0]):
        size = max(0.5 * (x[i, 2] + x[i, 3]), _MIN_SIZE_PX)
        for r in range(4):
            for c in range(4):
                s_out[i, r, c] = p[i, r, c]
            s_out[i, r, r] += (size * measurement_rel[r]) ** 2
        _invert_4x4(s_out[i], s_inv_out[i])


@kernel
def _update_rows(x: np.ndarray, p: np.ndarray, z: np.ndarray, s_inv: np.ndarray, x_out: np.ndarray,
                 p_out: np.ndarray) -> None:
    """update_row on every row, results in x_out, p_out."""
    for i in range(x.shape[0]):
        # Element copies: numba's array-assignment (broadcasting) machinery alone takes seconds to compile.
        for r in range(STATE_DIM):
            x_out[i, r] = x[i, r]
            for c in range(STATE_DIM):
                p_out[i, r, c] = p[i, r, c]
        update_row(x_out[i], p_out[i], z[i], s_inv[i])


@kernel
def update_row(x: np.ndarray, p: np.ndarray, z: np.ndarray, s_inv: np.ndarray) -> None:
    """Kalman update of one state (8,) and covariance (8, 8) IN PLACE with box z (4,) and S^-1 (4, 4).

    H = [I 0]: K = P H' S^-1, x += K (z - H x), P -= K H P = K (P H')', then P is symmetrised exactly.
    """
    gain = np.empty((STATE_DIM, 4))
    for r in range(STATE_DIM):                     # K = (P H') S^-1, P H' being P's first four columns
        for m in range(4):
            acc = 0.0
            for k in range(4):
                acc += p[r, k] * s_inv[k, m]
            gain[r, m] = acc
    innovation = np.empty(4)
    for m in range(4):
        innovation[m] = z[m] - x[m]
    for r in range(STATE_DIM):
        acc = 0.0
        for m in range(4):
            acc += gain[r, m] * innovation[m]
        x[r] += acc
    reduction = np.empty((STATE_DIM, STATE_DIM))
    for r in range(STATE_DIM):
        for s in range(STATE_DIM):
            acc = 0.0
            for m in range(4):
                acc += gain[r, m] * p[s, m]
            reduction[r, s] = acc
    for r in range(STATE_DIM):
        for s in range(STATE_DIM):
            p[r, s] -= reduction[r, s]
    for r in range(STATE_DIM):                     # keep it exactly symmetric
        for s in range(r + 1, STATE_DIM):
            mean = 0.5 * (p[r, s] + p[s, r])
            p[r, s] = mean
            p[s, r] = mean
