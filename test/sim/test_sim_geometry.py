"""The simulator's geometry is exact: projections go through the rig's camera model and come back."""
from __future__ import annotations

import numpy as np
import pytest

from mars_sim.detection_sim import _from_base, _to_base
from mars_sim.geodesy import MapDatum, utm_epsg


def test_flower_projected_and_back_lands_where_it_was(quick_result):
    result = quick_result
    checked = 0
    for name, stream in result.cameras.items():
        model = result.rig.camera(name).model
        gt = stream.true_boxes
        # Unclipped truth boxes are centred on the projection of the flower centre.
        full = gt.in_image_fraction >= 0.999
        idx = np.flatnonzero(full)[:: max(1, full.sum() // 200)]
        frames = gt.frame_index[idx]
        flower_rows = result.field.index_of(gt.flower_id[idx])
        xyz = result.field.xyz[flower_rows]
        poses = stream.poses
        base = _to_base(xyz, poses.x[frames], poses.y[frames], poses.yaw[frames])
        uv, depth = model.project_base(base)
        centre = 0.5 * (gt.xyxy[idx, :2] + gt.xyxy[idx, 2:])
        np.testing.assert_allclose(centre, uv, atol=0.01)   # float32 box storage
        # Back: the pixel's ray, followed to the flower's depth, gives the flower again (exact pixels).
        origin, dirs = model.rays_base(uv)
        optical_dirs = model.base_to_optical(origin + dirs) - model.base_to_optical(origin)
        t = depth / optical_dirs[:, 2]
        back_base = origin + dirs * t[:, None]
        back_map = _from_base(back_base, poses.x[frames], poses.y[frames], poses.yaw[frames])
        np.testing.assert_allclose(back_map, xyz, atol=1e-6)
        # And the ray meets the flower's horizontal plane at the flower.
        for k in range(min(len(idx), 20)):
            g = model.ground_point_from_pixel(uv[k:k + 1], base[k, 2])
            np.testing.assert_allclose(g[0], base[k], atol=1e-6)
        checked += len(idx)
    assert checked > 100


def test_map_to_base_and_back_is_identity():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3)) * 10
    x, y, yaw = rng.normal(size=50), rng.normal(size=50), rng.uniform(-np.pi, np.pi, 50)
    np.testing.assert_allclose(_from_base(_to_base(pts, x, y, yaw), x, y, yaw), pts, atol=1e-12)
    # yaw = pi/2: the robot faces +y, so a point 1 m ahead in base_link is at +y in map.
    out = _from_base(np.array([[1.0, 0.0, 0.0]]), np.zeros(1), np.zeros(1), np.array([np.pi / 2]))
    np.testing.assert_allclose(out[0], [0.0, 1.0, 0.0], atol=1e-12)


def test_datum_round_trip_and_utm_zone():
    datum = MapDatum(31.4740, -83.5285, 110.0)
    assert datum.utm_epsg == 32617 == utm_epsg(31.4740, -83.5285)
    assert utm_epsg(-33.9, 18.4) == 32734
    x = np.array([0.0, 100.0, -50.0, 3.0])
    y = np.array([0.0, 0.0, 250.0, -4.0])
    lat, lon, alt = datum.geodetic_from_map(x, y, 1.5)
    assert lat[0] == pytest.approx(31.4740, abs=1e-12) and lon[0] == pytest.approx(-83.5285, abs=1e-12)
    np.testing.assert_allclose(alt, 111.5)
    bx, by, bz = datum.map_from_geodetic(lat, lon, alt)
    np.testing.assert_allclose(bx, x, atol=1e-6)
    np.testing.assert_allclose(by, y, atol=1e-6)
    np.testing.assert_allclose(bz, 1.5)
    # 100 m east along the map x axis is ~100 m on the ellipsoid (UTM scale and convergence are small).
    from pyproj import Geod
    _, _, dist = Geod(ellps="WGS84").inv(lon[0], lat[0], lon[1], lat[1])
    assert dist == pytest.approx(100.0, rel=1e-3)


def test_truth_flowers_latlon_match_datum(quick_run_dir, quick_result):
    import csv
    rows = list(csv.DictReader(open(quick_run_dir / "truth" / "flowers.csv")))
    assert len(rows) == len(quick_result.field)
    x = np.array([float(r["x"]) for r in rows])
    y = np.array([float(r["y"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    lon = np.array([float(r["lon"]) for r in rows])
    bx, by, _ = quick_result.datum.map_from_geodetic(lat, lon)
    np.testing.assert_allclose(bx, x, atol=2e-4)   # csv rounding: 1e-4 m and 1e-9 deg
    np.testing.assert_allclose(by, y, atol=2e-4)
