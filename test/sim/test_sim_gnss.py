"""GNSS and heading noise follow the configured models; fixes and covariances are reported honestly."""
from __future__ import annotations

import numpy as np
import pytest

from mars_sim import simulate
from mars_sim.config import GNSS_MODE_NOISE, GnssConfig
from mars_sim.presets import preset_config
from mars_sim.sensors import STATUS_FIX, STATUS_GBAS_FIX, STATUS_NO_FIX, gnss_position_errors


@pytest.mark.parametrize("mode", ["rtk_fixed", "rtk_float", "gnss"])
def test_error_statistics_match_the_model(mode):
    cfg = GnssConfig(mode=mode, rate_hz=1.0)
    white, bias, tau = cfg.noise()
    n = 300_000   # 1000 bias correlation times of 300 s
    err = gnss_position_errors(cfg, n, np.random.default_rng(11))
    total = np.sqrt(white ** 2 + bias ** 2)
    # Horizontal: zero mean, per-axis sd = sqrt(white^2 + bias^2). The bias has ~n / (2 tau) independent
    # samples, so the sd estimate is good to a few percent; 4 sigma of that is the tolerance.
    n_eff = n / (2 * tau) * 2     # two axes
    tol = 4 * np.sqrt(1 / (2 * n_eff))
    sd = np.sqrt(np.mean(err[:, :2] ** 2))
    assert sd == pytest.approx(total, rel=tol)
    assert abs(err[:, :2].mean()) < 4 * bias * np.sqrt(2 * tau / n) + 4 * white / np.sqrt(n)
    # Vertical is vertical_factor times larger.
    assert np.sqrt(np.mean(err[:, 2] ** 2)) == pytest.approx(total * cfg.vertical_factor, rel=2 * tol)
    # The white part shows in consecutive differences: var(diff) = 2 white^2 + 2 bias^2 (1 - phi).
    phi = np.exp(-1.0 / tau)
    expected_var = 2 * white ** 2 + 2 * bias ** 2 * (1 - phi)
    assert np.var(np.diff(err[:, 0])) == pytest.approx(expected_var, rel=0.03)
    # The bias wanders slowly: correlation after tau seconds is about exp(-1) of the bias share.
    x = err[:, 0]
    lag = int(tau)
    corr = np.corrcoef(x[:-lag], x[lag:])[0, 1]
    assert corr == pytest.approx(np.exp(-1) * bias ** 2 / total ** 2, abs=0.1)


def test_rtk_fixed_is_about_two_centimetres():
    white, bias, _ = GNSS_MODE_NOISE["rtk_fixed"]
    assert 0.01 <= np.hypot(white, bias) <= 0.03
    assert np.hypot(*GNSS_MODE_NOISE["rtk_float"][:2]) >= 0.1
    assert np.hypot(*GNSS_MODE_NOISE["gnss"][:2]) >= 1.0


@pytest.mark.parametrize("preset,status", [("quick", STATUS_GBAS_FIX), ("field-gnss", STATUS_FIX)])
def test_simulated_fixes_report_status_and_covariance(preset, status):
    cfg = preset_config(preset, {"field": {"rows": 1, "row_length_m": 10.0}})
    result = simulate(cfg, seed=5)
    g = result.gnss
    assert np.all(g.status == status)
    sd = cfg.gnss.horizontal_sd_m
    np.testing.assert_allclose(g.covariance[:, 0], sd ** 2)
    np.testing.assert_allclose(g.covariance[:, 4], sd ** 2)
    np.testing.assert_allclose(g.covariance[:, 8], (sd * cfg.gnss.vertical_factor) ** 2)
    # Measured lat/lon are the measured map positions; true positions follow the antenna lever arm.
    x, y, _ = result.datum.map_from_geodetic(g.latitude, g.longitude, g.altitude)
    np.testing.assert_allclose(x, g.measured_xyz[:, 0], atol=1e-6)
    np.testing.assert_allclose(y, g.measured_xyz[:, 1], atol=1e-6)
    poses = result.trajectory.poses(g.stamp_ns)
    ax, ay, az = result.rig.gnss_antenna_xyz
    np.testing.assert_allclose(g.true_xyz[:, 0], poses.x + np.cos(poses.yaw) * ax - np.sin(poses.yaw) * ay, atol=1e-9)
    np.testing.assert_allclose(g.true_xyz[:, 2], az)
    period = np.diff(g.stamp_ns)
    assert np.all(period == int(round(1e9 / cfg.gnss.rate_hz)))


def test_dropouts_report_no_fix():
    cfg = preset_config("quick", {"gnss": {"dropouts_per_minute": 6.0, "dropout_duration_s": 2.0}})
    g = simulate(cfg, seed=1).gnss
    lost = g.status == STATUS_NO_FIX
    assert lost.any() and (~lost).any()
    assert np.all(np.isnan(g.latitude[lost])) and np.all(np.isfinite(g.latitude[~lost]))
    assert np.all(g.covariance_type[lost] == 0) and np.all(g.covariance[lost] == 0)
    # Each dropout lasts about dropout_duration_s (runs of consecutive lost fixes).
    edges = np.diff(np.concatenate([[0], lost.astype(int), [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert lengths.max() <= 2.0 * cfg.gnss.rate_hz * 2   # overlapping dropouts at most double


def test_heading_noise_and_none_source():
    result = simulate("quick", seed=3)
    h = result.heading
    err = np.angle(np.exp(1j * (h.yaw - h.exact_yaw)))
    assert np.sqrt(np.mean(err ** 2)) < 5 * np.sqrt(h.yaw_variance)
    assert np.std(np.diff(err)) == pytest.approx(np.sqrt(2) * result.config.heading.yaw_white_sd_rad, rel=0.15)
    assert simulate(preset_config("quick", {"heading": {"source": "none"}}), seed=3).heading is None


@pytest.mark.parametrize("datum, convergence_deg", [({}, -1.321), ({"latitude": 60.0, "longitude": 17.99}, 2.590)])
def test_imu_yaw_is_from_true_east_not_from_the_utm_grid(datum, convergence_deg):
    from pyproj import CRS, Proj
    result = simulate(preset_config("quick", {"datum": datum}), seed=3)
    h = result.heading
    poses = result.trajectory.poses(h.stamp_ns)
    lat, lon, _ = result.datum.geodetic_from_map(poses.x, poses.y)
    pyproj_deg = Proj(CRS.from_epsg(result.datum.utm_epsg)).get_factors(lon, lat).meridian_convergence
    np.testing.assert_allclose(np.degrees(h.grid_convergence), pyproj_deg, atol=1e-9)
    assert np.degrees(h.grid_convergence).mean() == pytest.approx(convergence_deg, abs=2e-3)
    # The world is the UTM grid: its yaw = yaw from true east + convergence (true north lies at grid yaw
    # pi/2 + convergence, see test/fusion/test_heading_reference.py).
    grid_error = np.angle(np.exp(1j * (h.exact_yaw + h.grid_convergence - poses.yaw)))
    np.testing.assert_allclose(grid_error, 0.0, atol=1e-12)
    # What the IMU topic carries (h.yaw, written to /imu/data: test_sim_bag) is the true yaw: without noise it is
    # exactly the grid yaw minus the convergence.
    exact = simulate(preset_config("quick", {"datum": datum, "heading": {"yaw_white_sd_rad": 0.0,
                                                                          "yaw_bias_sd_rad": 0.0}}), seed=3).heading
    offset = np.angle(np.exp(1j * (exact.yaw - poses.yaw)))
    np.testing.assert_allclose(offset, -h.grid_convergence, atol=1e-12)
