"""CameraDetectorConfig: defaults, validation errors naming the field, descriptions for ROS parameters."""
from __future__ import annotations

import dataclasses

import pytest

from mars_core.config_schema import ConfigError, config_from_dict
from mars_camera.detector_config import DEFAULT_MODEL_PATH, CameraDetectorConfig


def test_every_field_has_a_description():
    for f in dataclasses.fields(CameraDetectorConfig):
        assert f.metadata.get("description"), f.name


def test_defaults_point_at_the_embedded_model():
    cfg = CameraDetectorConfig()
    assert cfg.resolved_model_path == DEFAULT_MODEL_PATH and cfg.input_size == (320, 320)


@pytest.mark.parametrize("data, field", [
    ({"backend": "tpu"}, "backend"),
    ({"score_threshold": 1.5}, "score_threshold"),
    ({"feature_encoding": "int4"}, "feature_encoding"),
    ({"input_width": 300}, "input_width"),
    ({"hailo_arch": "hailo10"}, "hailo_arch"),
    ({"backend": "hailo"}, "hef_path"),
    ({"class_filter": [-1]}, "class_filter"),
    ({"onnx_providers": []}, "onnx_providers"),
    ({"iou_treshold": 0.3}, "iou_treshold"),
])
def test_bad_values_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        config_from_dict(CameraDetectorConfig, data)


def test_valid_dict_builds_a_frozen_config():
    cfg = config_from_dict(CameraDetectorConfig, {"backend": "onnx", "class_filter": [0], "feature_dim": 32})
    assert cfg.class_filter == (0,) and cfg.feature_dim == 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.backend = "hailo"  # type: ignore[misc]
