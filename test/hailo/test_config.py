"""Compile configuration: the shipped YAML equals the built-in defaults; bad values are named."""
from __future__ import annotations

from pathlib import Path

import pytest

from mars_hailo.config import (CompileConfig, compile_config_from_dict, load_compile_config,
                                              resolve_ladder)
from mars_hailo.errors import CompileConfigError

pytestmark = pytest.mark.hailo

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_yaml_is_the_defaults() -> None:
    assert load_compile_config(ROOT / "models" / "hailo" / "compile.yaml") == CompileConfig()


@pytest.mark.parametrize("data,where", [
    ({"hw_arch": "hailo9"}, "hw_arch"),
    ({"optimize": {"optimization_level": 7}}, "optimization_level"),
    ({"optimize": {"calibset_size": 2048}}, "calibset_size"),
    ({"optimize": {"batch_size": "8"}}, "batch_size"),
    ({"nms": {"enabled": "yes"}}, "enabled"),
    ({"nms": {"engine": "gpu"}}, "engine"),
    ({"resolution_ladder": [[640, 600]]}, "resolution_ladder[0]"),
    ({"resolution_ladder": [1.5]}, "resolution_ladder[0]"),
    ({"resolution_ladder": []}, "resolution_ladder"),
    ({"normalization_std": [255, 255]}, "normalization_std"),
    ({"colour": 1}, "colour"),
])
def test_bad_values_are_named(data: dict, where: str) -> None:
    with pytest.raises(CompileConfigError, match=r"x\.yaml.*" + where.replace("[", r"\[").replace("]", r"\]")):
        compile_config_from_dict(data, "x.yaml")


def test_ladder_resolution() -> None:
    assert resolve_ladder((1.0, 0.9, 0.5), (320, 320)) == [(320, 320), (288, 288), (160, 160)]
    # Absolute sizes larger than the export are skipped; repeats removed.
    assert resolve_ladder(((640, 640), 1.0, (256, 256), (256, 256)), (320, 320)) == [(320, 320), (256, 256)]
    assert resolve_ladder((1.0, 0.8), (640, 480)) == [(640, 480), (512, 384)]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CompileConfigError, match="nope.yaml"):
        load_compile_config(tmp_path / "nope.yaml")
