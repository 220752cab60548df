"""Heading conventions: the grid convergence of the map frame, and the fusion's heading_reference 'true_north' | 'map'.

A real IMU's REP-103 yaw is from true east; the map's x axis is UTM grid east (map_projection utm) or east at the
datum (enu). With 'true_north' (the default) the mapper adds the convergence at the latest fix, and holds samples that
come before the first fix; with 'map' the heading is used as it is.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import CRS, Proj

from fusion_synthetic import rig
from mars_core.config_schema import ConfigError
from mars_core.geometry.map_frame import MapFrame, utm_epsg
from mars_core.observations import GnssFix, HeadingSample
from mars_fusion.config import FusionConfig, fusion_config_from_dict
from mars_fusion.mapper import FlowerMapper
from mars_fusion.pose.heading import TrueToMapHeading

DEFAULT_DATUM = (31.4740, -83.5285)   # the simulator's default (zone 17, 2.5 deg west of its central meridian)
ZONE_EDGE = (60.0, 17.99)             # zone 33, 3 deg east of its central meridian: the largest convergence
COV = (1e-4, 0.0, 0.0, 0.0, 1e-4, 0.0, 0.0, 0.0, 4e-4)


def _map_yaw_of_true_north(frame: MapFrame, lat: float, lon: float) -> float:
    """Map yaw of the direction to a point 1 m due north (true north: same longitude), by projecting both."""
    x, y, _ = frame.map_from_geodetic(np.array([lat, lat + 1e-5]), np.array([lon, lon]), 0.0)
    return math.atan2(y[1] - y[0], x[1] - x[0])


@pytest.mark.parametrize("lat, lon, expected_deg", [(*DEFAULT_DATUM, -1.3208), (*ZONE_EDGE, 2.5900)])
def test_utm_convergence_matches_pyproj_and_two_projected_points(lat, lon, expected_deg) -> None:
    frame = MapFrame(lat, lon, 0.0, "utm")
    convergence = float(frame.grid_convergence_rad(lat, lon))
    factors = Proj(CRS.from_epsg(utm_epsg(lat, lon))).get_factors(lon, lat)
    assert math.degrees(convergence) == pytest.approx(factors.meridian_convergence, abs=1e-9)
    assert math.degrees(convergence) == pytest.approx(expected_deg, abs=1e-3)
    # Sign: true north (true yaw pi/2) has map yaw pi/2 + convergence, so map yaw = true yaw + convergence.
    assert _map_yaw_of_true_north(frame, lat, lon) == pytest.approx(math.pi / 2 + convergence, abs=1e-7)
    # Away from the datum too (500 m north-east), and vectorised.
    lats, lons = np.array([lat, lat + 0.0045]), np.array([lon, lon + 0.009])
    values = frame.grid_convergence_rad(lats, lons)
    assert values.shape == (2,)
    assert values[1] == pytest.approx(_map_yaw_of_true_north(frame, lats[1], lons[1]) - math.pi / 2, abs=1e-7)


@pytest.mark.parametrize("lat, lon", [DEFAULT_DATUM, ZONE_EDGE, (-33.0, 150.9)])
def test_enu_convergence_is_zero_at_the_datum_and_honest_away_from_it(lat, lon) -> None:
    frame = MapFrame(lat, lon, 100.0, "enu")
    assert float(frame.grid_convergence_rad(lat, lon)) == pytest.approx(0.0, abs=1e-12)
    # 2 km east and 1 km north of the datum: about (lon - lon0) * sin(lat), 1e-4 rad and more.
    far_lat, far_lon = lat + 0.009, lon + 0.02 / math.cos(math.radians(lat))
    convergence = float(frame.grid_convergence_rad(far_lat, far_lon))
    assert abs(convergence) > 1e-4
    assert convergence == pytest.approx(_map_yaw_of_true_north(frame, far_lat, far_lon) - math.pi / 2, abs=1e-8)
    assert convergence == pytest.approx(math.radians(far_lon - lon) * math.sin(math.radians(lat)), rel=0.02)


def _mapper(reference: str = "true_north", projection: str = "utm", convention: str = "enu") -> FlowerMapper:
    config = FusionConfig(datum_latitude=ZONE_EDGE[0], datum_longitude=ZONE_EDGE[1], datum_altitude=0.0,
                          map_projection=projection, heading_reference=reference, heading_source="imu",
                          heading_convention=convention, reorder_delay_s=0.0)
    return FlowerMapper(config, rig())


def _feed(mapper: FlowerMapper, heading: float, fixes_from_s: float = 0.0, seconds: float = 2.0) -> np.ndarray:
    """Headings (10 Hz from 0 s) and fixes (10 Hz from fixes_from_s) of a robot at the datum; stamps of the fixes."""
    stamps = np.arange(0, int(seconds * 1e9) + 1, 100_000_000, dtype=np.int64)
    for t in stamps:
        if t >= fixes_from_s * 1e9:
            mapper.add_fix(GnssFix(int(t), ZONE_EDGE[0], ZONE_EDGE[1], 0.0, 2, COV, 2))
        mapper.add_heading(HeadingSample(int(t), heading))
    mapper.flush()
    return stamps[stamps >= fixes_from_s * 1e9]


def test_true_heading_becomes_the_map_heading_and_map_passes_through() -> None:
    convergence = float(MapFrame(*ZONE_EDGE, 0.0, "utm").grid_convergence_rad(*ZONE_EDGE))
    assert math.degrees(convergence) == pytest.approx(2.59, abs=0.01)
    true_yaw = 0.3
    converted = _mapper("true_north")
    stamps = _feed(converted, true_yaw)
    np.testing.assert_allclose(converted.pose.pose_at(stamps).yaw, true_yaw + convergence, atol=1e-9)
    unchanged = _mapper("map")
    stamps = _feed(unchanged, true_yaw)
    np.testing.assert_allclose(unchanged.pose.pose_at(stamps).yaw, true_yaw, atol=1e-9)
    # A compass heading is from true north too: compass 0 = true north = map yaw pi/2 + convergence.
    compass = _mapper("true_north", convention="compass")
    stamps = _feed(compass, 0.0)
    np.testing.assert_allclose(compass.pose.pose_at(stamps).yaw, math.pi / 2 + convergence, atol=1e-9)
    # enu at its datum: true north is the map's north there.
    enu = _mapper("true_north", projection="enu")
    stamps = _feed(enu, true_yaw)
    np.testing.assert_allclose(enu.pose.pose_at(stamps).yaw, true_yaw, atol=1e-9)


def test_headings_before_the_first_fix_wait_for_it() -> None:
    convergence = float(MapFrame(*ZONE_EDGE, 0.0, "utm").grid_convergence_rad(*ZONE_EDGE))
    mapper = _mapper("true_north")
    mapper.add_heading(HeadingSample(0, 0.3))
    mapper.flush()
    assert len(mapper.pose.headings) == 0          # not guessed: no fix says where the robot is yet
    _feed(mapper, 0.3, fixes_from_s=2.0, seconds=3.0)
    t, yaw = mapper.pose.headings._arrays()
    # The samples a pose at the first fix can use were held (hold_s before it), older ones dropped; all converted.
    hold_ns = mapper.heading_to_map.hold_ns
    assert 0 < hold_ns < int(2e9)
    assert 2e9 - hold_ns - 1e8 <= t[0] <= 2e9 - hold_ns and t[-1] == int(3e9)   # 10 Hz samples
    np.testing.assert_allclose(yaw, 0.3 + convergence, atol=1e-9)


def test_held_samples_are_bounded_and_a_new_session_forgets_the_convergence() -> None:
    frame = MapFrame(*ZONE_EDGE, 0.0, "utm")
    to_map = TrueToMapHeading("true_north", hold_s=0.5)
    for k in range(100):   # 10 s at 10 Hz without a fix
        assert to_map.convert(k * 100_000_000, 0.1) == []
    released = to_map.at_fix(frame, *ZONE_EDGE)
    assert [t for t, _ in released] == [k * 100_000_000 for k in range(94, 100)]
    assert to_map.convert(10_000_000_000, 0.1)[0][1] == pytest.approx(0.1 + to_map.convergence_rad)
    to_map.clear()
    assert to_map.convergence_rad is None and to_map.convert(11_000_000_000, 0.1) == []
    assert TrueToMapHeading("map", 0.5).convert(5, 0.1) == [(5, 0.1)]


def test_a_bad_heading_reference_is_a_config_error_naming_the_key() -> None:
    assert FusionConfig().heading_reference == "true_north"
    assert fusion_config_from_dict({"heading_reference": "map"}).heading_reference == "map"
    with pytest.raises(ConfigError, match="heading_reference"):
        fusion_config_from_dict({"heading_reference": "grid"})
    assert "true_north" in FusionConfig.descriptions()["heading_reference"]
