"""Dead reckoning through GNSS dropouts: heading integrated through gaps, closure on the fix after, extrapolation
limit, gaps too long or without heading, the growing position sd, its rays, and the config keys."""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np
import pytest

from fusion_synthetic import enu_config, feed, make_field
from mars_core.config_schema import ConfigError
from mars_fusion.config import FusionConfig, fusion_config_from_dict
from mars_fusion.mapper import FlowerMapper
from mars_fusion.pose import HeadingTrack, PoseTrack
from mars_fusion.pose.dead_reckoning import close_path, integrate_heading

S = 1_000_000_000
Path2D = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]     # t (s) -> (xy (n, 2), yaw (n,))


def _straight(speed: float = 0.5) -> Path2D:
    return lambda t: (np.column_stack([speed * t, np.zeros_like(t)]), np.zeros_like(t))


def _arc(radius: float = 5.0, speed: float = 0.5) -> Path2D:
    """A left turn on a circle about (0, radius), starting at the origin heading east."""
    def path(t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        a = speed * t / radius
        return np.column_stack([radius * np.sin(a), radius * (1.0 - np.cos(a))]), a
    return path


def _track(path: Path2D, fix_times_s: np.ndarray, heading_until_s: float = 0.0, heading_bias: float = 0.0,
           antenna: Tuple[float, float, float] = (0.0, 0.0, 0.0), **config) -> PoseTrack:
    """A PoseTrack fed noise-free fixes of the antenna at fix_times_s and heading at 50 Hz up to heading_until_s."""
    track = PoseTrack(FusionConfig(**config), antenna_xyz=antenna)
    for t in np.arange(0.0, heading_until_s + 1e-9, 0.02):
        track.add_heading(int(round(t * S)), float(path(np.array([t]))[1][0]) + heading_bias)
    xy, yaw = path(np.asarray(fix_times_s, dtype=np.float64))
    c, s = np.cos(yaw), np.sin(yaw)
    ant = xy + np.column_stack([c * antenna[0] - s * antenna[1], s * antenna[0] + c * antenna[1]])
    for t, p in zip(fix_times_s, ant):
        track.add_fix(int(round(t * S)), (float(p[0]), float(p[1]), antenna[2]), 0.01)
    return track


def _fixes_around_gap(gap_from_s: float, gap_to_s: float, end_s: float) -> np.ndarray:
    t = np.round(np.arange(0.0, end_s + 1e-9, 0.1), 3)
    return t[(t <= gap_from_s) | (t >= gap_to_s)]


def _stamps(t_s: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(t_s) * S).astype(np.int64)


def test_a_straight_gap_is_dead_reckoned_and_the_heading_bias_is_closed_out() -> None:
    # 10 s without fixes (beyond max_fix_gap_s), the IMU 0.03 rad off: open integration would drift 15 cm sideways.
    track = _track(_straight(), _fixes_around_gap(10.0, 20.0, 30.0), heading_until_s=30.0, heading_bias=0.03)
    t = np.arange(10.5, 20.0, 0.5)
    pose = track.pose_at(_stamps(t))
    assert pose.valid.all()
    np.testing.assert_allclose(pose.xyz[:, :2], _straight()(t)[0], atol=0.01)
    summary = track.gap_summary()
    assert (summary.dead_reckoned, summary.not_bridged) == (1, 0)
    assert summary.longest_s == pytest.approx(10.0, abs=0.01)


def test_a_curved_gap_follows_the_turn_with_the_lever_arm() -> None:
    # A quarter of a 5 m circle: the straight line between the fixes would cut the turn by up to 0.7 m.
    path = _arc()
    track = _track(path, _fixes_around_gap(4.0, 12.0, 20.0), heading_until_s=20.0, heading_bias=0.01,
                   antenna=(0.6, 0.2, 2.0))
    t = np.arange(4.5, 12.0, 0.5)
    pose = track.pose_at(_stamps(t))
    truth, yaw = path(t)
    assert pose.valid.all()
    assert np.hypot(*(pose.xyz[:, :2] - truth).T).max() < 0.01     # 7 mm: the lever arm turned by the bias
    np.testing.assert_allclose(pose.yaw, yaw + 0.01, atol=1e-3)
    chord = truth[0] + (truth[-1] - truth[0]) * ((t - t[0]) / (t[-1] - t[0]))[:, None]
    assert np.hypot(*(chord - truth).T).max() > 0.2       # what interpolating the fixes would have done


def test_closure_spreads_the_error_in_time_when_the_path_is_too_short_for_a_similarity() -> None:
    nodes = _stamps(np.array([0.0, 1.0, 2.0]))
    disp = np.array([[0.0, 0.0], [0.01, 0.0], [0.02, 0.0]])
    closed = close_path(nodes, disp, np.array([0.0, 0.02]))
    np.testing.assert_allclose(closed, [[0.0, 0.0], [0.0, 0.01], [0.0, 0.02]], atol=1e-12)
    # Long enough: turned and scaled about the start.
    closed = close_path(nodes, disp * 100, np.array([0.0, 2.2]))
    np.testing.assert_allclose(closed, [[0.0, 0.0], [0.0, 1.1], [0.0, 2.2]], atol=1e-12)


def test_integration_follows_the_heading_at_a_speed_linear_in_time() -> None:
    heading = HeadingTrack(max_age_s=0.5)
    for k in range(101):
        heading.add(k * S // 10, np.pi / 2)
    nodes, disp = integrate_heading(heading, 0, 10 * S, 0.2, 0.6)
    assert nodes[0] == 0 and nodes[-1] == 10 * S
    np.testing.assert_allclose(disp[-1], [0.0, 4.0], atol=1e-9)           # mean speed 0.4 m/s for 10 s


def test_extrapolation_beyond_the_last_fix_stops_at_its_limit_and_where_the_heading_ends() -> None:
    fixes = np.round(np.arange(0.0, 10.0 + 1e-9, 0.1), 3)
    track = _track(_straight(), fixes, heading_until_s=20.0)
    t = np.array([10.2, 12.0, 13.9, 14.5, 18.0])
    pose = track.pose_at(_stamps(t))
    assert list(pose.valid) == [True, True, True, False, False]
    np.testing.assert_allclose(pose.xyz[:3, :2], _straight()(t[:3])[0], atol=0.01)
    np.testing.assert_allclose(pose.sd_dropout[:3], [0.0, 0.02, 0.039], atol=1e-9)
    # The heading ends 1 s after the last fix: no dead reckoning beyond it (the IMU max age aside).
    short = _track(_straight(), fixes, heading_until_s=11.0)
    assert list(short.pose_at(_stamps(np.array([11.3, 12.0]))).valid) == [True, False]
    off = _track(_straight(), fixes, heading_until_s=20.0, dead_reckoning_max_extrapolation_s=0.0)
    assert not off.pose_at(_stamps(np.array([12.0]))).valid.any()


def test_a_gap_longer_than_the_limit_is_not_bridged_and_reported() -> None:
    track = _track(_straight(), _fixes_around_gap(10.0, 45.0, 60.0), heading_until_s=60.0)
    # Only the first seconds after the fix before it are extrapolated, as at the end of a bag.
    pose = track.pose_at(_stamps(np.array([10.2, 12.0, 14.5, 30.0, 44.0])))
    assert list(pose.valid) == [True, True, False, False, False]
    np.testing.assert_allclose(pose.xyz[:2, :2], _straight()(np.array([10.2, 12.0]))[0], atol=0.01)
    summary = track.gap_summary()
    assert (summary.dead_reckoned, summary.not_bridged, summary.bridged) == (0, 1, 0)
    assert summary.longest_s == pytest.approx(35.0, abs=0.01)
    longer = _track(_straight(), _fixes_around_gap(10.0, 45.0, 60.0), heading_until_s=60.0,
                    dead_reckoning_max_gap_s=40.0)
    assert longer.pose_at(_stamps(np.array([30.0]))).valid.all()


def test_without_heading_only_a_straight_course_is_bridged() -> None:
    fixes = _fixes_around_gap(10.0, 20.0, 30.0)
    straight = _track(_straight(), fixes)
    pose = straight.pose_at(_stamps(np.array([15.0])))
    assert pose.valid.all()
    np.testing.assert_allclose(pose.xyz[0, :2], [7.5, 0.0], atol=0.01)
    assert straight.gap_summary().course_over_ground == 1
    turning = _track(_arc(), _fixes_around_gap(4.0, 12.0, 20.0))
    assert not turning.pose_at(_stamps(np.array([8.0]))).valid.any()
    assert turning.gap_summary().not_bridged == 1
    # A short gap is interpolated as before; heading_source course_over_ground ignores the IMU for the gap too.
    short = _track(_arc(), _fixes_around_gap(6.0, 10.0, 20.0))
    assert short.pose_at(_stamps(np.array([8.0]))).valid.all() and short.gap_summary().interpolated == 1
    ignored = _track(_arc(), _fixes_around_gap(4.0, 12.0, 20.0), heading_until_s=20.0,
                     heading_source="course_over_ground")
    assert not ignored.pose_at(_stamps(np.array([8.0]))).valid.any()


def test_the_position_sd_grows_with_the_time_from_the_nearest_fix() -> None:
    track = _track(_straight(), _fixes_around_gap(10.0, 20.0, 30.0), heading_until_s=30.0,
                   dead_reckoning_sd_mps=0.02)
    pose = track.pose_at(_stamps(np.array([5.0, 12.0, 15.0, 19.0, 25.0])))
    np.testing.assert_allclose(pose.sd_dropout, [0.0, 0.04, 0.1, 0.02, 0.0], atol=1e-9)
    np.testing.assert_allclose(pose.sd_h, np.hypot(0.01, pose.sd_dropout), atol=1e-12)


def test_the_gap_summary_survives_a_new_session() -> None:
    track = _track(_straight(), _fixes_around_gap(10.0, 20.0, 30.0), heading_until_s=30.0)
    track.clear()
    assert track.gap_summary().dead_reckoned == 1
    for k in range(50):
        track.add_fix(k * S // 10, (0.05 * k, 0.0, 0.0), 0.01)
    assert track.gap_summary().dead_reckoned == 1


def test_heading_coverage_helpers() -> None:
    heading = HeadingTrack(max_age_s=0.5)
    for t in list(np.arange(0.0, 5.0, 0.1)) + list(np.arange(7.0, 9.0, 0.1)):
        heading.add(int(round(t * S)), 0.0)
    assert heading.covers(0, 5 * S) and not heading.covers(0, 6 * S)
    assert heading.covered_until(S, 8 * S) == int(round(4.9 * S)) + S // 2
    assert heading.covered_until(6 * S, 8 * S) is None
    assert heading.covered_until(7 * S, 8 * S) == 8 * S
    assert heading.stamps_between(S, 2 * S).shape[0] == 9


def test_a_flower_seen_in_a_dropout_is_placed_with_the_larger_sd_it_has() -> None:
    field = make_field(n_flowers=12, length_m=12.0, gnss_sd=0.005, seed=21)
    gap = (field.start_ns + 8 * S, field.start_ns + 18 * S)          # 10 s without fixes mid-row
    messages = [m for m in field.messages if not (m[1] == "fix" and gap[0] < m[0] < gap[1])]
    mapper = FlowerMapper(enu_config(), field.rig)
    estimates = []
    add = mapper.add_estimates
    mapper.add_estimates = lambda batch: (estimates.extend(batch), add(batch))[1]   # type: ignore[method-assign]
    feed(mapper, messages)
    mapper.finalize()
    assert mapper.count() == int(field.visible.sum())
    flowers = mapper.flowers().xyz
    for truth in field.flowers_xyz[field.visible]:
        assert np.hypot(*(flowers[:, :2] - truth[:2]).T).min() < 0.04
    inside = [e for e in estimates if gap[0] + 2 * S < e.t_first and e.t_last < gap[1] - 2 * S]
    outside = [e for e in estimates if e.t_last < gap[0] or e.t_first > gap[1]]
    assert inside and outside
    assert min(float(e.ray_sigma.min()) for e in inside) > max(float(np.median(e.ray_sigma)) for e in outside)
    assert min(e.gnss_var for e in inside) > max(e.gnss_var for e in outside)
    report = mapper.gnss_report()
    assert report["dropouts_dead_reckoned"] == 1 and report["gaps_not_bridged"] == 0
    assert report["longest_gap_s"] == pytest.approx(10.0, abs=0.2)
    assert any("dead-reckoned" in w for w in report["warnings"])


@pytest.mark.parametrize("key,value", [("dead_reckoning_max_gap_s", 0.0), ("dead_reckoning_max_gap_s", float("nan")),
                                       ("dead_reckoning_max_extrapolation_s", -1.0),
                                       ("dead_reckoning_sd_mps", -0.01), ("dead_reckoning_sd_mps", float("inf"))])
def test_bad_dead_reckoning_settings_are_rejected_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=key):
        fusion_config_from_dict({key: value})


def test_dead_reckoning_defaults() -> None:
    cfg = FusionConfig()
    assert (cfg.dead_reckoning_max_gap_s, cfg.dead_reckoning_max_extrapolation_s, cfg.dead_reckoning_sd_mps) == \
        (30.0, 4.0, 0.01)


def test_a_gap_too_long_to_bridge_is_reported_with_a_warning() -> None:
    field = make_field(n_flowers=8, length_m=30.0, gnss_sd=0.005, seed=22)
    gap = (field.start_ns + 10 * S, field.start_ns + 50 * S)         # 40 s without fixes
    mapper = FlowerMapper(enu_config(), field.rig)
    feed(mapper, [m for m in field.messages if not (m[1] == "fix" and gap[0] < m[0] < gap[1])])
    mapper.finalize()
    report = mapper.gnss_report()
    assert (report["gaps_not_bridged"], report["dropouts_bridged"], report["dropouts_dead_reckoned"]) == (1, 0, 0)
    assert report["longest_gap_s"] == pytest.approx(40.0, abs=0.2)
    assert any("1 GNSS gaps were not bridged" in w and "dead_reckoning_max_gap_s = 30 s" in w
               for w in report["warnings"])
    # Flowers under the robot from 18 s to 42 s are only seen after the 4 s of extrapolation: not in the map.
    mapped_x = mapper.flowers().xyz[:, 0]
    assert not ((mapped_x > 9.0) & (mapped_x < 21.0)).any()
    assert ((field.flowers_xyz[:, 0] > 9.0) & (field.flowers_xyz[:, 0] < 21.0) & field.visible).any()


def test_a_dropout_at_the_end_of_the_data_counts_as_a_gap() -> None:
    fixes = np.round(np.arange(0.0, 10.0 + 1e-9, 0.1), 3)
    track = _track(_straight(), fixes, heading_until_s=20.0)
    assert track.gap_summary(_stamps(np.array([10.5]))[0]).longest_s == 0.0          # no dropout: fixes at 10 Hz
    within = track.gap_summary(_stamps(np.array([13.0]))[0])
    assert (within.dead_reckoned, within.not_bridged, within.longest_s) == (1, 0, pytest.approx(3.0))
    beyond = track.gap_summary(_stamps(np.array([18.0]))[0])
    assert (beyond.dead_reckoned, beyond.not_bridged, beyond.longest_s) == (0, 1, pytest.approx(8.0))
    assert track.gap_summary().bridged + track.gap_summary().not_bridged == 0
