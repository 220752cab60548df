"""Camera model, rig configuration and the config-schema pattern (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import pytest

from harness.ros_processes import REPO_ROOT
from mars_core.config_schema import ConfigError, config_field, config_from_dict, config_to_dict
from mars_core.geometry import CameraExtrinsics, CameraIntrinsics, CameraModel, rotation_from_rpy
from mars_core.geometry.rotations import quaternion_from_rotation, yaw_from_quaternion
from mars_core.rig import load_rig, rig_from_dict


def test_projection_round_trip_with_distortion():
    cam = CameraModel("c", CameraIntrinsics(1280, 960, 900, 905, 641, 479, (-0.1, 0.02, 0.001, -0.002, 0.0)),
                      CameraExtrinsics((0.1, 0.3, 1.6), (0.05, 1.2, -1.4)))
    rng = np.random.default_rng(0)
    heights = rng.uniform(0.3, 1.2, 200)
    pts = np.column_stack([rng.uniform(-0.4, 0.4, 200), rng.uniform(-0.2, 0.2, 200), heights])
    uv, depth = cam.project_base(pts)
    keep = (depth > 0) & cam.intrinsics.contains(uv)
    assert keep.sum() > 50
    back = np.vstack([cam.ground_point_from_pixel(uv[i:i + 1], heights[i]) for i in np.flatnonzero(keep)])
    np.testing.assert_allclose(back, pts[keep], atol=1e-6)


def test_optical_frame_convention():
    cam = CameraModel("c", CameraIntrinsics(640, 480, 500, 500, 320, 240))  # link axes = base axes
    uv, depth = cam.project_base(np.array([[2.0, 0.0, 0.0], [2.0, 0.5, 0.0], [2.0, 0.0, 0.5]]))
    assert depth[0] == pytest.approx(2.0)
    np.testing.assert_allclose(uv[0], [320, 240])
    assert uv[1, 0] < 320  # a point to the left (+y) appears left in the image (x right)
    assert uv[2, 1] < 240  # a point above (+z) appears up in the image (y down)
    assert np.isnan(cam.project_base(np.array([[-1.0, 0, 0]]))[0]).all()  # behind the camera


def test_rotation_helpers_agree():
    rpy = (0.1, -0.4, 2.0)
    r = rotation_from_rpy(rpy)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    x, y, z, w = quaternion_from_rotation(r)
    assert yaw_from_quaternion(x, y, z, w) == pytest.approx(np.arctan2(r[1, 0], r[0, 0]))


def test_shipped_rig_config_loads_and_views_overlap():
    rig = load_rig(REPO_ROOT / "config" / "mars_rig.yaml")
    assert rig.camera_names == ("cam_left", "cam_center", "cam_right")
    flower = np.array([[0.0, 0.0, 0.7]])  # on the row under the boom
    for cam in rig.cameras:
        uv, depth = cam.model.project_base(flower)
        assert depth[0] > 0 and cam.model.intrinsics.contains(uv)[0], cam.name
    assert rig_from_dict(rig.to_dict()) == rig


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["cameras"][1].pop("intrinsics"), r"cameras\[1\]\.intrinsics"),
    (lambda d: d["cameras"][0]["extrinsics"].update(xyz=[1, 2]), r"cameras\[0\]\.extrinsics\.xyz must have 3"),
    (lambda d: d["cameras"][2].update(name="cam left"), r"cameras\[2\]\.name"),
    (lambda d: d["cameras"][2].update(name="cam_left"), "names must be unique"),
    (lambda d: d["cameras"][0].update(frame_rate_hz=0), r"cameras\[0\]\.frame_rate_hz must be positive"),
    (lambda d: d["cameras"][0]["intrinsics"].update(fx=-1), "focal lengths must be positive"),
])
def test_bad_rig_config_names_the_key(mutate, message):
    data = load_rig(REPO_ROOT / "config" / "mars_rig.yaml").to_dict()
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        rig_from_dict(data)


@dataclass(frozen=True)
class ExampleConfig:
    rate_hz: float = config_field(10.0, "How often", minimum=0.1)
    mode: str = config_field("fast", "Which mode", choices=("fast", "exact"))
    cameras: Tuple[str, ...] = config_field(("a",), "Camera names")
    limit: Optional[int] = config_field(None, "Optional cap", minimum=1)


def test_config_from_dict_checks_types_ranges_choices_and_unknown_keys():
    cfg = config_from_dict(ExampleConfig, {"rate_hz": 5, "cameras": ["x", "y"]}, "tracker")
    assert cfg.rate_hz == 5.0 and cfg.cameras == ("x", "y") and cfg.limit is None
    assert config_to_dict(cfg)["cameras"] == ["x", "y"]
    with pytest.raises(ConfigError, match=r"tracker\.rate_hz must be >= 0.1"):
        config_from_dict(ExampleConfig, {"rate_hz": 0.0}, "tracker")
    with pytest.raises(ConfigError, match=r"tracker\.mode must be one of"):
        config_from_dict(ExampleConfig, {"mode": "slow"}, "tracker")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) tracker\.rat_hz"):
        config_from_dict(ExampleConfig, {"rat_hz": 1}, "tracker")
    with pytest.raises(ConfigError, match=r"tracker\.rate_hz must be a number"):
        config_from_dict(ExampleConfig, {"rate_hz": "fast"}, "tracker")
    with pytest.raises(ConfigError, match=r"tracker\.limit must be >= 1"):
        config_from_dict(ExampleConfig, {"limit": 0}, "tracker")
