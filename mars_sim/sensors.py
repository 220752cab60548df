"""GNSS fixes and IMU heading of the simulated robot, with honest noise models and reported covariances.

GNSS error per horizontal axis = white noise + a first-order Gauss-Markov bias (stationary sd
``bias_sd``, correlation time ``tau``): RTK fixed about 2 cm, RTK float tens of cm, plain GNSS metres
with a slowly wandering bias. Vertical error is ``vertical_factor`` times larger. The reported
covariance is the total stationary variance (white^2 + bias^2). During dropouts the receiver reports
STATUS_NO_FIX with NaN position and an unknown covariance.

The IMU reports its yaw as a real one does (REP-103, from true east), not in the simulator's world, which is
the UTM grid: yaw from true east = grid yaw - the grid convergence at the robot (about -1.3 deg at the default
datum, +2.6 deg at 60 N 17.99 E), so that a fusion must turn it back into a map heading.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from mars_sim.config import GnssConfig, HeadingConfig
from mars_sim.geodesy import MapDatum
from mars_sim.trajectory import Trajectory

# sensor_msgs/NavSatStatus and NavSatFix constants.
STATUS_NO_FIX = -1
STATUS_FIX = 0
STATUS_GBAS_FIX = 2
SERVICE_GPS_GLONASS_GALILEO = 1 | 2 | 8
COVARIANCE_TYPE_UNKNOWN = 0
COVARIANCE_TYPE_DIAGONAL_KNOWN = 2


@dataclass(frozen=True)
class GnssFixes:
    """NavSatFix content per fix (columns) plus the true antenna position for scoring."""

    stamp_ns: np.ndarray        # (M,) int64
    latitude: np.ndarray        # (M,) degrees, NaN without fix
    longitude: np.ndarray
    altitude: np.ndarray
    status: np.ndarray          # (M,) int8 NavSatStatus
    covariance: np.ndarray      # (M, 9) ENU m^2, row-major
    covariance_type: np.ndarray  # (M,) uint8
    true_xyz: np.ndarray        # (M, 3) antenna in map
    measured_xyz: np.ndarray    # (M, 3) antenna in map as measured (NaN without fix)


@dataclass(frozen=True)
class HeadingSamples:
    """IMU orientation (yaw only: the field is flat) and yaw rate."""

    stamp_ns: np.ndarray        # (K,) int64
    yaw: np.ndarray             # (K,) measured REP-103 yaw from true east (wrapped to -pi..pi): the IMU topic
    exact_yaw: np.ndarray       # (K,) the robot's exact yaw from true east (wrapped)
    grid_convergence: np.ndarray  # (K,) rad at the robot: map (grid) yaw = true yaw + grid_convergence
    yaw_variance: float
    yaw_rate: np.ndarray        # (K,) rad/s measured
    yaw_rate_variance: float


def gauss_markov(n: int, dt: float, sd: float, tau: float, rng: np.random.Generator, dims: int = 1) -> np.ndarray:
    """Stationary first-order Gauss-Markov sequence (n, dims) with standard deviation sd."""
    if n == 0:
        return np.zeros((0, dims))
    if sd == 0:
        return np.zeros((n, dims))
    phi = np.exp(-dt / tau)
    drive = rng.normal(0.0, sd * np.sqrt(1.0 - phi * phi), (n, dims))
    drive[0] = rng.normal(0.0, sd, dims)
    # The AR(1) recursion as a linear filter (vectorised; scipy's lfilter runs it in C).
    from scipy.signal import lfilter
    return lfilter([1.0], [1.0, -phi], drive, axis=0)


def gnss_position_errors(config: GnssConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """Errors (n, 3) in map metres of n consecutive fixes at config.rate_hz."""
    white, bias, tau = config.noise()
    dt = 1.0 / config.rate_hz
    err = gauss_markov(n, dt, bias, tau, rng, 3) + rng.normal(0.0, white, (n, 3))
    err[:, 2] *= config.vertical_factor
    return err


def dropout_mask(config: GnssConfig, t_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """True for fix times inside a dropout (Poisson-distributed dropout starts)."""
    mask = np.zeros(t_s.shape, dtype=bool)
    if config.dropouts_per_minute <= 0 or t_s.size == 0:
        return mask
    duration = float(t_s[-1] - t_s[0])
    n = rng.poisson(config.dropouts_per_minute * duration / 60.0)
    starts = t_s[0] + rng.uniform(0.0, duration, n)
    for start in starts:   # few dropouts: a short loop over them, vectorised over fixes
        mask |= (t_s >= start) & (t_s < start + config.dropout_duration_s)
    return mask


def simulate_gnss(config: GnssConfig, trajectory: Trajectory, antenna_xyz: tuple, datum: MapDatum,
                  rng: np.random.Generator, end_time_ns: Optional[int] = None) -> GnssFixes:
    """Fixes of the antenna (lever arm in base_link) along the drive."""
    end_ns = trajectory.start_time_ns + int(trajectory.duration_s * 1e9) if end_time_ns is None else end_time_ns
    period_ns = int(round(1e9 / config.rate_hz))
    stamps = np.arange(trajectory.start_time_ns, end_ns + 1, period_ns, dtype=np.int64)
    poses = trajectory.poses(stamps)
    ax, ay, az = antenna_xyz
    c, s = np.cos(poses.yaw), np.sin(poses.yaw)
    true_xyz = np.column_stack([poses.x + c * ax - s * ay, poses.y + s * ax + c * ay, np.full(stamps.size, az)])
    err = gnss_position_errors(config, stamps.size, rng)
    measured = true_xyz + err
    lost = dropout_mask(config, (stamps - stamps[0]) * 1e-9, rng)
    measured[lost] = np.nan
    lat, lon, alt = datum.geodetic_from_map(measured[:, 0], measured[:, 1], measured[:, 2])
    status = np.where(lost, STATUS_NO_FIX, STATUS_FIX if config.mode == "gnss" else STATUS_GBAS_FIX).astype(np.int8)
    h_var = config.horizontal_sd_m ** 2
    cov = np.zeros((stamps.size, 9))
    cov[:, 0] = cov[:, 4] = h_var
    cov[:, 8] = h_var * config.vertical_factor ** 2
    cov[lost] = 0.0
    cov_type = np.where(lost, COVARIANCE_TYPE_UNKNOWN, COVARIANCE_TYPE_DIAGONAL_KNOWN).astype(np.uint8)
    return GnssFixes(stamps, lat, lon, alt, status, cov, cov_type, true_xyz, measured)


def grid_convergence(datum: MapDatum, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Grid convergence (rad) at map points: their map (UTM grid) yaw minus their yaw from true east."""
    lat, lon, _ = datum.geodetic_from_map(x, y)
    return datum.grid_convergence_rad(lat, lon)


def simulate_heading(config: HeadingConfig, trajectory: Trajectory, datum: MapDatum, rng: np.random.Generator,
                     end_time_ns: Optional[int] = None) -> Optional[HeadingSamples]:
    """IMU yaw from true east and yaw rate along the drive (None when the heading source is 'none')."""
    if config.source == "none":
        return None
    end_ns = trajectory.start_time_ns + int(trajectory.duration_s * 1e9) if end_time_ns is None else end_time_ns
    period_ns = int(round(1e9 / config.rate_hz))
    stamps = np.arange(trajectory.start_time_ns, end_ns + 1, period_ns, dtype=np.int64)
    poses = trajectory.poses(stamps)
    bias = gauss_markov(stamps.size, 1.0 / config.rate_hz, config.yaw_bias_sd_rad, config.yaw_bias_tau_s, rng)[:, 0]
    convergence = grid_convergence(datum, poses.x, poses.y)
    exact_yaw = poses.yaw - convergence
    yaw = exact_yaw + bias + rng.normal(0.0, config.yaw_white_sd_rad, stamps.size)
    rate = poses.yaw_rate + rng.normal(0.0, config.gyro_sd_rad_s, stamps.size)
    return HeadingSamples(stamps, np.angle(np.exp(1j * yaw)), np.angle(np.exp(1j * exact_yaw)), convergence,
                          config.yaw_white_sd_rad ** 2 + config.yaw_bias_sd_rad ** 2, rate, config.gyro_sd_rad_s ** 2)
