"""The robot's sensor rig (cameras with intrinsics and mounting, GNSS antenna): one source of truth.

Read from the ``rig`` section of a robot configuration file (config/mars_rig.yaml) by the simulator,
the tracker's motion prior, the fusion, launch files (static transforms) and the offline counter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union


from mars_core.config_schema import ConfigError, load_yaml_mapping
from mars_core.geometry.camera_model import CameraExtrinsics, CameraIntrinsics, CameraModel


@dataclass(frozen=True)
class RigCamera:
    """One camera of the rig."""

    model: CameraModel
    frame_rate_hz: float = 30.0

    @property
    def name(self) -> str:
        """Camera name, also its ROS namespace and frame prefix."""
        return self.model.name


@dataclass(frozen=True)
class RigConfig:
    """All cameras and the GNSS antenna lever arm, in base_link."""

    cameras: Tuple[RigCamera, ...]
    gnss_antenna_xyz: Tuple[float, float, float] = (0.0, 0.0, 0.0)

    def camera(self, name: str) -> RigCamera:
        """The camera called name (ConfigError naming the known cameras if absent)."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise ConfigError(f"no camera '{name}' in the rig; cameras are {[c.name for c in self.cameras]}")

    @property
    def camera_names(self) -> Tuple[str, ...]:
        """Names of all cameras in configuration order."""
        return tuple(c.name for c in self.cameras)

    def to_dict(self) -> Dict[str, Any]:
        """The plain-data form accepted by rig_from_dict (for writing next to bags)."""
        cams = []
        for cam in self.cameras:
            i, e = cam.model.intrinsics, cam.model.extrinsics
            cams.append({
                "name": cam.name, "frame_rate_hz": cam.frame_rate_hz,
                "intrinsics": {"width": i.width, "height": i.height, "fx": i.fx, "fy": i.fy, "cx": i.cx, "cy": i.cy,
                               "distortion": list(i.distortion)},
                "extrinsics": {"xyz": list(e.xyz), "rpy": list(e.rpy)},
            })
        return {"cameras": cams, "gnss": {"antenna_xyz": list(self.gnss_antenna_xyz)}}


def _get(mapping: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(mapping).__name__}")
    if key not in mapping:
        if default is ...:
            raise ConfigError(f"missing key {where}.{key}")
        return default
    return mapping[key]


def _floats(value: Any, n: int, where: str) -> Tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a list of {n} numbers, got {value!r}") from None
    if len(out) != n:
        raise ConfigError(f"{where} must have {n} values, got {len(out)}")
    return out


def _triple(value: Any, where: str) -> Tuple[float, float, float]:
    x, y, z = _floats(value, 3, where)
    return x, y, z


def rig_from_dict(data: Mapping[str, Any], where: str = "rig") -> RigConfig:
    """Validate and build a RigConfig from plain data; errors name the offending key."""
    cameras_data = _get(data, "cameras", where)
    if not isinstance(cameras_data, list) or not cameras_data:
        raise ConfigError(f"{where}.cameras must be a non-empty list")
    cameras = []
    for idx, cam in enumerate(cameras_data):
        cw = f"{where}.cameras[{idx}]"
        name = _get(cam, "name", cw)
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{cw}.name must be an identifier-like string (it becomes a ROS namespace), got {name!r}")
        intr = _get(cam, "intrinsics", cw)
        iw = f"{cw}.intrinsics"
        try:
            intrinsics = CameraIntrinsics(
                int(_get(intr, "width", iw)), int(_get(intr, "height", iw)), float(_get(intr, "fx", iw)),
                float(_get(intr, "fy", iw)), float(_get(intr, "cx", iw)), float(_get(intr, "cy", iw)),
                tuple(float(v) for v in _get(intr, "distortion", iw, [0.0] * 5)))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{iw}: {exc}") from None
        extr = _get(cam, "extrinsics", cw)
        ew = f"{cw}.extrinsics"
        extrinsics = CameraExtrinsics(_triple(_get(extr, "xyz", ew), f"{ew}.xyz"),
                                      _triple(_get(extr, "rpy", ew), f"{ew}.rpy"))
        rate = float(_get(cam, "frame_rate_hz", cw, 30.0))
        if not rate > 0:
            raise ConfigError(f"{cw}.frame_rate_hz must be positive, got {rate}")
        cameras.append(RigCamera(CameraModel(name, intrinsics, extrinsics), rate))
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.cameras names must be unique, got {names}")
    gnss = _get(data, "gnss", where, {})
    antenna = _triple(_get(gnss, "antenna_xyz", f"{where}.gnss", [0.0, 0.0, 0.0]), f"{where}.gnss.antenna_xyz")
    return RigConfig(tuple(cameras), antenna)


def load_robot_config(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a robot configuration YAML file into a dict (ConfigError naming the file when unreadable)."""
    return load_yaml_mapping(path, "robot configuration")


def load_rig(path: Union[str, Path], section: Optional[str] = "rig") -> RigConfig:
    """Load the rig section of a robot configuration file."""
    data = load_robot_config(path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: missing top-level key '{section}'")
        data = data[section]
    return rig_from_dict(data, where=f"{Path(path).name}:{section or 'rig'}")


@dataclass(frozen=True)
class StaticTransform:
    """A fixed transform parent -> child: translation (m) and roll, pitch, yaw (rad)."""

    parent: str
    child: str
    xyz: Tuple[float, float, float]
    rpy: Tuple[float, float, float]


# <cam>_link (REP-103 body axes) -> <cam>_optical_frame (z forward, x right, y down).
OPTICAL_RPY = (-math.pi / 2, 0.0, -math.pi / 2)


def rig_static_transforms(rig: RigConfig) -> Tuple[StaticTransform, ...]:
    """The rig's TF tree: base_link -> <cam>_link -> <cam>_optical_frame, base_link -> gnss_link."""
    out = []
    for cam in rig.cameras:
        e = cam.model.extrinsics
        out.append(StaticTransform("base_link", cam.model.link_frame, e.xyz, e.rpy))
        out.append(StaticTransform(cam.model.link_frame, cam.model.optical_frame, (0.0, 0.0, 0.0), OPTICAL_RPY))
    out.append(StaticTransform("base_link", "gnss_link", rig.gnss_antenna_xyz, (0.0, 0.0, 0.0)))
    return tuple(out)
