"""Every range, exclusive bound, finiteness rule and choice declared with config_field is enforced by the one
check (mars_core.config_schema.check_config) with a ConfigError naming the key."""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.frame_sources.source_config import FrameSourceConfig
from mars_core.config_schema import ConfigError, check_config, config_field, config_from_dict, field_types
from mars_fusion.config import FusionConfig
from mars_tracker.config import TrackerConfig

# Values the classes' own cross-field checks need, so that each case tests only the one field.
_VALID_BASE: Dict[str, Dict[str, Any]] = {
    "BagReplayConfig": {"bag_path": "some_bag"},
    "DetectionRecorderConfig": {"output_path": "out_bag", "topics": ["/cam/detections"]},
    "SubscriberGateConfig": {"topics": ["/cam/detections"]},
}


def _config_classes() -> List[type]:
    classes: List[type] = [TrackerConfig, FusionConfig, CameraDetectorConfig, FrameSourceConfig]
    try:  # the node configs live beside rclpy code
        from mars_ros.nodes.bag_replay import BagReplayConfig
        from mars_ros.nodes.camera_node import CameraNodeConfig
        from mars_ros.nodes.detection_recorder import DetectionRecorderConfig
        from mars_ros.nodes.fusion_node import FusionNodeConfig
        from mars_ros.nodes.subscriber_gate import SubscriberGateConfig
        from mars_ros.nodes.tracker_node import TrackerNodeConfig
    except ImportError:
        return classes
    return classes + [TrackerNodeConfig, FusionNodeConfig, CameraNodeConfig, BagReplayConfig,
                      DetectionRecorderConfig, SubscriberGateConfig]


def _scalar_type(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0]
    return hint


def _bad_values(f: dataclasses.Field, kind: Any) -> Iterator[Tuple[str, Any]]:
    """(what, value) pairs just outside each declared rule of one field."""
    meta = f.metadata
    step = 1 if kind is int else 0.5
    if meta.get("minimum") is not None:
        yield "below minimum", meta["minimum"] - step
    if meta.get("maximum") is not None:
        yield "above maximum", meta["maximum"] + step
    if meta.get("greater_than") is not None:
        yield "at the exclusive lower bound", kind(meta["greater_than"])
    if meta.get("less_than") is not None:
        yield "at the exclusive upper bound", kind(meta["less_than"])
    if meta.get("choices") is not None:
        yield "not a choice", "not-a-choice" if kind is str else max(meta["choices"]) + 100
    if kind is float and meta.get("finite", True):
        yield "nan", math.nan
        yield "inf", math.inf


def _cases() -> Iterator[Any]:
    for cls in _config_classes():
        types = field_types(cls)
        for f in dataclasses.fields(cls):
            hint = types[f.name]
            kind = _scalar_type(hint)
            is_list = isinstance(f.default, tuple)
            for what, value in _bad_values(f, kind):
                value = [value] if is_list else value
                yield pytest.param(cls, f.name, value, id=f"{cls.__name__}.{f.name}-{what}")


def test_every_ranged_field_is_covered() -> None:
    assert len(list(_cases())) > 150  # tracker, fusion, camera, source and node configs all declare rules


@pytest.mark.parametrize("cls, key, value", list(_cases()))
def test_each_declared_rule_is_enforced_naming_the_key(cls: type, key: str, value: Any) -> None:
    data = dict(_VALID_BASE.get(cls.__name__, {}), **{key: value})
    with pytest.raises(ConfigError, match=rf"\b{re.escape(key)}\b"):
        config_from_dict(cls, data, "section")


@pytest.mark.parametrize("cls", _config_classes(), ids=lambda c: c.__name__)
def test_defaults_pass_the_check(cls: type) -> None:
    check_config(config_from_dict(cls, _VALID_BASE.get(cls.__name__), "section"))


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"TrackerConfig\.appearance_gate must lie in \(0, 2\], got 0\.0") as info:
        TrackerConfig(appearance_gate=0.0)
    assert info.value.key == "appearance_gate" and info.value.rule == "must lie in (0, 2], got 0.0"
    with pytest.raises(ConfigError, match=r"fusion\.grid_cell_m must be > 0"):
        FusionConfig(grid_cell_m=0.0)
    with pytest.raises(ConfigError, match=r"TrackerConfig\.embedding_momentum must lie in \[0, 1\)"):
        TrackerConfig(embedding_momentum=1.0)
    assert TrackerConfig(embedding_momentum=0.0).embedding_momentum == 0.0
    assert type(TrackerConfig(max_lost_seconds=3).max_lost_seconds) is float


@dataclass(frozen=True)
class _Bounds:
    positive: float = config_field(1.0, "exclusive lower bound", greater_than=0.0)
    below_one: float = config_field(0.5, "closed below, open above", minimum=0.0, less_than=1.0)
    anything: float = config_field(0.0, "may be infinite", finite=False)
    count: Optional[int] = config_field(None, "optional, at most 3", maximum=3)


def test_bound_kinds_and_their_messages() -> None:
    assert config_from_dict(_Bounds, {"anything": math.inf, "count": 3}).anything == math.inf
    for data, message in [({"positive": 0.0}, "x.positive must be > 0, got 0.0"),
                          ({"below_one": 1.0}, "x.below_one must lie in [0, 1), got 1.0"),
                          ({"below_one": -0.1}, "x.below_one must lie in [0, 1), got -0.1"),
                          ({"positive": math.nan}, "x.positive must be finite, got nan"),
                          ({"count": 4}, "x.count must be <= 3, got 4")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            config_from_dict(_Bounds, data, "x")
    with pytest.raises(TypeError, match="not both"):
        config_field(1.0, "both lower bounds", minimum=0.0, greater_than=0.0)
