"""The robot's sensor rig (cameras with intrinsics and mounting, GNSS antenna): one source of truth.

Read from the ``rig`` section of a robot configuration file (config/mars_rig.yaml) by the simulator,
the tracker's motion prior, the fusion, launch files (static transforms) and the offline counter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union


from mars_core.config_schema import ConfigError, check_known_keys, load_yaml_mapping
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


# The sections of a robot configuration file and what reads them (config/mars_rig.yaml documents each).
ROBOT_CONFIG_SECTIONS = {"rig": "cameras and GNSS antenna (RigConfig)", "tracker": "mars_tracker TrackerConfig",
                         "fusion": "mars_fusion FusionConfig", "camera": "mars_camera CameraDetectorConfig"}
# The keys of the rig section, level by level (rig_from_dict reads exactly these).
RIG_KEYS = ("cameras", "gnss")
CAMERA_KEYS = ("name", "frame_rate_hz", "intrinsics", "extrinsics")
INTRINSICS_KEYS = ("width", "height", "fx", "fy", "cx", "cy", "distortion")
EXTRINSICS_KEYS = ("xyz", "rpy")
GNSS_KEYS = ("antenna_xyz",)


def _mapping(value: Any, keys: Tuple[str, ...], where: str) -> Mapping[str, Any]:
    """value as a mapping with only the given keys (ConfigError naming the key and the closest valid one)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    check_known_keys(value, keys, where)
    return value


def _finite(value: float, where: str) -> float:
    # NaN passes every "must be positive" test (all comparisons are false) and would silently take the
    # camera out of the map: a number from the configuration must be finite.
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}", key=where.rsplit(".", 1)[-1],
                          rule="must be finite")
    return value


def _get(mapping: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(mapping).__name__}")
    if key not in mapping:
        if default is ...:
            raise ConfigError(f"missing key {where}.{key}")
        return default
    return mapping[key]


def _number(mapping: Mapping[str, Any], key: str, where: str, default: Any = ...) -> float:
    """The finite number at mapping[key] (ConfigError naming where.key otherwise)."""
    value = _get(mapping, key, where, default)
    if isinstance(value, bool):
        raise ConfigError(f"{where}.{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.{key} must be a number, got {value!r}") from None
    return _finite(number, f"{where}.{key}")


def _integer(mapping: Mapping[str, Any], key: str, where: str) -> int:
    """The whole number at mapping[key] (ConfigError naming where.key otherwise)."""
    number = _number(mapping, key, where)
    if number != int(number):
        raise ConfigError(f"{where}.{key} must be a whole number, got {number}")
    return int(number)


def _floats(value: Any, n: Optional[int], where: str) -> Tuple[float, ...]:
    """A list of finite numbers (exactly n of them unless n is None)."""
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        count = f"{n} " if n is not None else ""
        raise ConfigError(f"{where} must be a list of {count}numbers, got {value!r}") from None
    if n is not None and len(out) != n:
        raise ConfigError(f"{where} must have {n} values, got {len(out)}")
    for i, v in enumerate(out):
        _finite(v, f"{where}[{i}]")
    return out


def _triple(value: Any, where: str) -> Tuple[float, float, float]:
    x, y, z = _floats(value, 3, where)
    return x, y, z


def rig_from_dict(data: Mapping[str, Any], where: str = "rig") -> RigConfig:
    """Validate and build a RigConfig from plain data; errors name the offending key."""
    data = _mapping(data, RIG_KEYS, where)
    cameras_data = _get(data, "cameras", where)
    if not isinstance(cameras_data, list) or not cameras_data:
        raise ConfigError(f"{where}.cameras must be a non-empty list")
    cameras = []
    for idx, cam in enumerate(cameras_data):
        cw = f"{where}.cameras[{idx}]"
        cam = _mapping(cam, CAMERA_KEYS, cw)
        name = _get(cam, "name", cw)
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{cw}.name must be an identifier-like string (it becomes a ROS namespace), got {name!r}")
        iw = f"{cw}.intrinsics"
        intr = _mapping(_get(cam, "intrinsics", cw), INTRINSICS_KEYS, iw)
        width, height = (_integer(intr, key, iw) for key in ("width", "height"))
        fx, fy, cx, cy = (_number(intr, key, iw) for key in ("fx", "fy", "cx", "cy"))
        distortion = _floats(_get(intr, "distortion", iw, [0.0] * 5), None, f"{iw}.distortion")
        try:
            intrinsics = CameraIntrinsics(width, height, fx, fy, cx, cy, distortion)
        except ValueError as exc:
            raise ConfigError(f"{iw}: {exc}") from None
        ew = f"{cw}.extrinsics"
        extr = _mapping(_get(cam, "extrinsics", cw), EXTRINSICS_KEYS, ew)
        extrinsics = CameraExtrinsics(_triple(_get(extr, "xyz", ew), f"{ew}.xyz"),
                                      _triple(_get(extr, "rpy", ew), f"{ew}.rpy"))
        rate = _number(cam, "frame_rate_hz", cw, 30.0)
        if not rate > 0:
            raise ConfigError(f"{cw}.frame_rate_hz must be positive, got {rate}")
        cameras.append(RigCamera(CameraModel(name, intrinsics, extrinsics), rate))
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.cameras names must be unique, got {names}")
    gnss = _mapping(_get(data, "gnss", where, {}), GNSS_KEYS, f"{where}.gnss")
    antenna = _triple(_get(gnss, "antenna_xyz", f"{where}.gnss", [0.0, 0.0, 0.0]), f"{where}.gnss.antenna_xyz")
    return RigConfig(tuple(cameras), antenna)


def load_robot_config(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a robot configuration YAML file into a dict (ConfigError naming the file when unreadable or when a
    top-level key is not one of ROBOT_CONFIG_SECTIONS)."""
    data = load_yaml_mapping(path, "robot configuration")
    try:
        check_known_keys(data, ROBOT_CONFIG_SECTIONS)
    except ConfigError as exc:
        raise ConfigError(f"robot configuration {path}: {exc}", key=exc.key, rule=exc.rule) from None
    return data


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
