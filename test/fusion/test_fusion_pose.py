"""Pose: map frame, fix validation, heading conventions, PoseTrack smoothing, outliers, jumps, lever arm."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mars_fusion.config import FusionConfig
from mars_core.observations import GnssFix
from mars_core.geometry.map_frame import MapFrame
from mars_fusion.pose import FixValidator, HeadingTrack, PoseTrack, yaw_from_compass

S = 1_000_000_000


def test_enu_map_frame_round_trip_and_scale() -> None:
    frame = MapFrame(31.474, -83.5285, 110.0)
    x, y, z = frame.map_from_geodetic(np.array([31.474, 31.4749]), np.array([-83.5285, -83.5285]),
                                      np.array([110.0, 110.0]))
    assert abs(x[0]) < 1e-6 and abs(y[0]) < 1e-6 and abs(z[0]) < 1e-6
    assert y[1] == pytest.approx(0.0009 * 110_860, rel=2e-3)     # ~110.86 km per degree of latitude here
    lat, lon, alt = frame.geodetic_from_map(np.array([12.3, -40.0]), np.array([-7.5, 250.0]), np.array([1.0, 2.0]))
    x2, y2, z2 = frame.map_from_geodetic(lat, lon, alt)
    np.testing.assert_allclose(np.column_stack([x2, y2, z2]), [[12.3, -7.5, 1.0], [-40.0, 250.0, 2.0]], atol=1e-6)


def test_utm_map_frame_round_trip() -> None:
    frame = MapFrame(31.474, -83.5285, 110.0, projection="utm")
    lat, lon, alt = frame.geodetic_from_map(np.array([5.0]), np.array([7.0]), np.array([0.5]))
    x, y, z = frame.map_from_geodetic(lat, lon, alt)
    np.testing.assert_allclose([x[0], y[0], z[0]], [5.0, 7.0, 0.5], atol=1e-6)
    with pytest.raises(ValueError, match="projection"):
        MapFrame(31.0, -83.0, 0.0, projection="mercator")


def test_fix_validation_counts_every_rejection() -> None:
    v = FixValidator(min_status=0, default_sd_m=3.0, max_sd_m=10.0)
    cov = (0.04, 0, 0, 0, 0.04, 0, 0, 0, 0.16)
    assert v.horizontal_sd(GnssFix(1, 31.0, -83.0, 100.0, 2, cov, 2)) == pytest.approx(0.2)
    assert v.horizontal_sd(GnssFix(2, 31.0, -83.0, 100.0, -1, cov, 2)) is None
    assert v.horizontal_sd(GnssFix(3, math.nan, -83.0, 100.0, 0, cov, 2)) is None
    assert v.horizontal_sd(GnssFix(4, 31.0, -83.0, 100.0, 0, (400.0, 0, 0, 0, 400.0, 0, 0, 0, 900.0), 2)) is None
    assert v.horizontal_sd(GnssFix(5, 31.0, -83.0, 100.0, 0, (0.0,) * 9, 0)) == 3.0
    assert v.horizontal_sd(GnssFix(6, 31.0, 200.0, 100.0, 0, cov, 2)) is None
    assert v.horizontal_sd(GnssFix(7, 31.0, -83.0, 100.0, 0, (math.nan,) * 9, 2)) is None
    counts = v.counts()
    assert counts == {"accepted": 2, "rejected_no_fix": 1, "rejected_nan_position": 1,
                      "rejected_covariance_too_large": 1, "rejected_position_out_of_range": 1,
                      "rejected_bad_covariance": 1}


def test_compass_heading_converts_to_rep103_yaw() -> None:
    # compass 0 = north -> yaw pi/2; compass 90 deg = east -> yaw 0; compass 180 = south -> -pi/2
    np.testing.assert_allclose(yaw_from_compass(np.radians([0.0, 90.0, 180.0, 270.0])),
                               [np.pi / 2, 0.0, -np.pi / 2, np.pi], atol=1e-12)


def test_heading_interpolates_across_the_wrap() -> None:
    h = HeadingTrack(max_age_s=0.5)
    h.add(0, np.pi - 0.05)
    h.add(S // 10, -np.pi + 0.05)
    yaw, near = h.yaw_at(np.array([S // 20, 10 * S]))
    assert abs(abs(yaw[0]) - np.pi) < 1e-9
    assert near[0] and not near[1]


def _drive(track: PoseTrack, n: int = 200, noise: float = 0.01, seed: int = 0, speed: float = 0.5,
           yaw: float = 0.0, antenna: tuple = (0.0, 0.0, 0.0)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) * (S // 10)
    truth = np.column_stack([speed * t / S * np.cos(yaw), speed * t / S * np.sin(yaw), np.zeros(n)])
    c, s = np.cos(yaw), np.sin(yaw)
    ant = truth + np.array([c * antenna[0] - s * antenna[1], s * antenna[0] + c * antenna[1], antenna[2]])
    for i in range(n):
        track.add_fix(int(t[i]), ant[i] + np.append(rng.normal(0, noise, 2), 0.0), max(noise, 0.01))
    return truth


def test_smoothing_reduces_white_noise() -> None:
    track = PoseTrack(FusionConfig(heading_source="course_over_ground"))
    _drive(track, noise=0.05)
    stamps = np.arange(20, 180) * (S // 10) + S // 20
    pose = track.pose_at(stamps)
    true_xy = 0.5 * stamps[:, None] / S * np.array([1.0, 0.0])
    err = np.hypot(*(pose.xyz[:, :2] - true_xy).T)
    assert pose.valid.all()
    assert np.sqrt(np.mean(err ** 2)) < 0.05 / 2          # a raw fix would be ~0.07 (2-D)
    assert np.abs(pose.yaw).max() < 0.05                    # course over ground while driving east


def test_single_outlier_is_rejected_and_counted() -> None:
    track = PoseTrack(FusionConfig(heading_source="course_over_ground"))
    t = np.arange(100) * (S // 10)
    for i in range(100):
        p = np.array([0.05 * i, 0.0, 0.0])
        if i == 50:
            p[1] += 2.0
        track.add_fix(int(t[i]), p, 0.02)
    assert track.counts()["outlier_fixes"] == 1
    pose = track.pose_at(np.array([t[50]]))
    assert abs(pose.xyz[0, 1]) < 0.01


def test_persistent_jump_starts_a_segment() -> None:
    track = PoseTrack(FusionConfig(heading_source="course_over_ground"))
    t = np.arange(100) * (S // 10)
    for i in range(100):
        track.add_fix(int(t[i]), np.array([0.05 * i, 0.5 if i >= 60 else 0.0, 0.0]), 0.02)
    assert track.counts().get("gnss_jumps") == 1
    pose = track.pose_at(np.array([t[80]]))
    assert pose.xyz[0, 1] == pytest.approx(0.5, abs=0.01)     # after the jump the new position is followed


def test_lever_arm_is_removed_with_the_heading() -> None:
    cfg = FusionConfig(heading_source="imu")
    track = PoseTrack(cfg, antenna_xyz=(0.6, 0.2, 2.0))
    yaw = np.pi / 2   # driving north
    for k in range(0, 21):
        track.add_heading(k * S // 2, yaw)
    truth = _drive(track, n=100, noise=0.0, yaw=yaw, antenna=(0.6, 0.2, 2.0))
    pose = track.pose_at(np.array([5 * S]))
    np.testing.assert_allclose(pose.xyz[0], truth[50], atol=1e-6)
    assert pose.yaw[0] == pytest.approx(yaw)


def test_gap_and_extrapolation_limits_make_poses_invalid() -> None:
    # Without heading a straight 3 s gap is bridged by course over ground up to dead_reckoning_max_gap_s.
    for max_gap_s, bridged in ((2.0, False), (30.0, True)):
        track = PoseTrack(FusionConfig(heading_source="course_over_ground", max_fix_gap_s=2.0,
                                       dead_reckoning_max_gap_s=max_gap_s))
        for i in list(range(30)) + list(range(60, 90)):
            track.add_fix(i * S // 10, np.array([0.05 * i, 0.0, 0.0]), 0.02)
        pose = track.pose_at(np.array([2 * S, 4 * S, 20 * S]))
        assert list(pose.valid) == [True, bridged, False]
