"""FusionConfig: defaults valid, descriptions for every field, errors naming the field."""
from __future__ import annotations

from dataclasses import fields

import pytest

from mars_core.rig import ConfigError
from mars_fusion.config import FusionConfig, fusion_config_from_dict


def test_defaults_are_valid_and_every_field_is_described() -> None:
    cfg = FusionConfig()
    desc = FusionConfig.descriptions()
    assert set(desc) == {f.name for f in fields(cfg)}
    assert all(len(text) > 10 for text in desc.values())


def test_round_trip_through_plain_data() -> None:
    cfg = fusion_config_from_dict({"canopy_height_m": 0.6, "swath_half_width_m": 0.45, "heading_source": "imu"})
    assert cfg.canopy_height_m == 0.6 and cfg.swath_half_width_m == 0.45
    assert fusion_config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("data, field_name", [
    ({"canopy_heigth_m": 0.5}, "canopy_heigth_m"),
    ({"grid_cell_m": 0.0}, "grid_cell_m"),
    ({"heading_source": "magnetometer"}, "heading_source"),
    ({"min_track_observations": 1.5}, "min_track_observations"),
    ({"datum_latitude": 31.0}, "datum_longitude"),
    ({"swath_half_width_m": "wide"}, "swath_half_width_m"),
    ({"reorder_delay_s": float("nan")}, "reorder_delay_s"),
])
def test_bad_values_name_the_field(data: dict, field_name: str) -> None:
    with pytest.raises(ConfigError, match=field_name):
        fusion_config_from_dict(data)


def test_frozen() -> None:
    with pytest.raises(Exception):
        FusionConfig().canopy_height_m = 1.0  # type: ignore[misc]


def test_load_from_robot_config_file(tmp_path) -> None:
    from mars_fusion.config import load_fusion_config
    path = tmp_path / "robot.yaml"
    path.write_text("rig: {}\nfusion:\n  canopy_height_m: 0.6\n")
    assert load_fusion_config(path).canopy_height_m == 0.6
    path.write_text("rig: {}\n")
    assert load_fusion_config(path) == FusionConfig()
    path.write_text("fusion:\n  canopy_height: 0.6\n")
    with pytest.raises(ConfigError, match="robot.yaml.*canopy_height"):
        load_fusion_config(path)
