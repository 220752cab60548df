"""Geolocation: ray triangulation, track estimates from the real rig (height triangulated, not assumed)."""
from __future__ import annotations

import numpy as np
import pytest

from fusion_synthetic import enu_config, rig, straight_pose_track
from mars_fusion.geolocation import FinishedTrack, TrackGeolocator, triangulate_rays

S = 1_000_000_000


def test_triangulate_exact_rays() -> None:
    point = np.array([1.0, 2.0, 0.7])
    origins = np.array([[0.0, 0.0, 1.6], [0.5, 0.0, 1.6], [1.0, 1.0, 1.6], [2.0, 2.0, 1.6]])
    dirs = point - origins
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    x, cov, resid = triangulate_rays(origins, dirs, np.full(4, 0.01), np.array([0]), np.array([0.75]), 1.0)
    np.testing.assert_allclose(x[0], point, atol=1e-4)
    assert np.all(resid < 1e-2) and np.all(np.linalg.eigvalsh(cov[0]) > 0)


def test_robust_to_one_wild_ray() -> None:
    point = np.array([0.0, 0.0, 0.5])
    origins = np.column_stack([np.linspace(-0.5, 0.5, 9), np.zeros(9), np.full(9, 1.6)])
    dirs = point - origins
    dirs[4] += np.array([0.3, 0.2, 0.0])         # a bad box
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    x, _, _ = triangulate_rays(origins, dirs, np.full(9, 0.005), np.array([0]), np.array([0.75]), 0.3)
    assert np.linalg.norm(x[0] - point) < 0.01


def _track_of(cam_name: str, flower: np.ndarray, speed: float = 0.5) -> FinishedTrack:
    model = rig().camera(cam_name).model
    stamps, pix = [], []
    for k in range(0, 300):
        t = k / 30.0
        base = flower - np.array([speed * t, 0.0, 0.0])
        uv, depth = model.project_base(base[None])
        if depth[0] > 0 and model.intrinsics.contains(uv, margin=40.0)[0]:
            stamps.append(int(t * S))
            pix.append(uv[0])
    pix = np.array(pix)
    return FinishedTrack(cam_name, 7, np.array(stamps, np.int64), pix, np.full((len(pix), 2), 60.0),
                         np.ones(len(pix)), True, None, "")


@pytest.mark.parametrize("cam", ["cam_left", "cam_center", "cam_right"])
@pytest.mark.parametrize("height", [0.35, 1.1])
def test_track_position_triangulates_height(cam: str, height: float) -> None:
    cfg = enu_config(canopy_height_m=0.75)
    track_pose = straight_pose_track(cfg)
    lateral = {"cam_left": 0.15, "cam_center": 0.0, "cam_right": -0.15}[cam]
    flower = np.array([2.0, lateral, height])
    est = TrackGeolocator(cfg, rig()).geolocate([_track_of(cam, flower)], track_pose, session=0)
    assert len(est) == 1
    e = est[0]
    # Far off the 0.75 m canopy plane, the position still comes out right because the motion triangulates it.
    assert np.linalg.norm(e.xyz - flower) < 0.01
    assert e.n_obs > 5 and np.all(np.linalg.eigvalsh(e.cov) > 0)


def test_swath_limit_drops_tracks_of_the_next_row() -> None:
    cfg = enu_config(swath_half_width_m=0.45)
    track_pose = straight_pose_track(cfg)
    geo = TrackGeolocator(cfg, rig())
    assert geo.geolocate([_track_of("cam_right", np.array([2.0, 0.55, 0.7]))], track_pose, 0) == []
    assert geo.counters["tracks_outside_swath"] == 1
