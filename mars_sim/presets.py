"""Named simulation presets (``mars-sim --list``): plain overrides of the SimConfig defaults."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Union


from mars_core.config_schema import ConfigError, load_yaml_mapping
from mars_sim.config import SimConfig, merge_dicts, sim_config_from_dict

# Free-running Raspberry Pi cameras: each starts at its own phase of the 30 fps period.
UNSYNCHRONISED_CAMERAS = {"cam_left": {"offset_s": 0.0, "jitter_s": 0.002},
                          "cam_center": {"offset_s": 0.011, "jitter_s": 0.002},
                          "cam_right": {"offset_s": 0.022, "jitter_s": 0.002}}

PRESETS: Dict[str, Dict[str, Any]] = {
    "quick": {
        "description": "seconds: 1 row x 8 m, RTK fixed, 3 cameras; for tests",
        "field": {"rows": 1, "row_length_m": 8.0},
        "flowers": {"per_plant_mean": 0.8},
        "drive": {"headland_m": 0.8},
    },
    "field": {
        "description": "a realistic pass: 3 cameras, 4 rows x 100 m, RTK fixed, IMU heading",
        "field": {"rows": 4, "row_length_m": 100.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
    },
    "field-gnss": {
        "description": "the 'field' pass with plain GNSS (metres, wandering bias) and no IMU heading",
        "field": {"rows": 4, "row_length_m": 100.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "gnss": {"mode": "gnss", "rate_hz": 5.0},
        "heading": {"source": "none"},
    },
    # One GNSS regime each, on a short field (2 rows x 30 m, about 2.5 min per pass) with the 'field' detector:
    # what the count and the map do under that regime alone (benchmarks/gnss_regimes.py runs them all).
    "rtk-float": {
        "description": "regime: RTK float (decimetres of wandering bias), one pass, IMU heading; 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "gnss": {"mode": "rtk_float"},
    },
    "rtk-dropouts": {
        "description": "regime: RTK fixed with 2 dropouts of 4 s per minute, one pass; 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "gnss": {"mode": "rtk_fixed", "dropouts_per_minute": 2.0, "dropout_duration_s": 4.0},
    },
    "two-pass-fixed": {
        "description": "regime: RTK fixed, the rows driven twice (back in the opposite direction); 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "drive": {"passes": 2, "second_pass_lateral_offset_m": 0.08},
    },
    "two-pass-float": {
        "description": "regime: RTK float, the rows driven twice; 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "drive": {"passes": 2, "second_pass_lateral_offset_m": 0.08},
        "gnss": {"mode": "rtk_float"},
    },
    "gnss-imu": {
        "description": "regime: plain GNSS (metres) with IMU heading, one pass; 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "gnss": {"mode": "gnss", "rate_hz": 5.0},
    },
    "gnss-no-imu": {
        "description": "regime: plain GNSS without IMU (course over ground), one pass; 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "gnss": {"mode": "gnss", "rate_hz": 5.0},
        "heading": {"source": "none"},
    },
    # One detector score regime each (RTK fixed, one pass, 2 rows x 30 m): the count must not depend on the
    # score scale of the detector (benchmarks/score_regimes.py runs them all).
    "scores-low": {
        "description": "scores regime: true flowers scored lower (mean about 0.57 instead of 0.8), the rest as "
                       "the default detector; 2 rows x 30 m, RTK fixed",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "detection": {"score_tp_beta": [4.5, 3.4]},
    },
    "scores-recalibrated": {
        "description": "scores regime: another detector's calibration, every score squared (flowers about "
                       "0.65, look-alikes 0.3); 2 rows x 30 m, RTK fixed",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "detection": {"score_gamma": 2.0},
    },
    "scores-quantized": {
        "description": "scores regime: a quantized model on the device, scores 0.05 lower in steps of 1/16; "
                       "2 rows x 30 m, RTK fixed",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "detection": {"score_offset": -0.05, "score_quantization_step": 0.0625},
    },
    "scores-overlap": {
        "description": "scores regime: flowers, look-alikes and clutter scored closer together (means 0.62, "
                       "0.57, 0.43); 2 rows x 30 m, RTK fixed",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
        "detection": {"score_tp_beta": [5.0, 3.0], "score_distractor_beta": [4.0, 3.0],
                      "score_fp_beta": [3.0, 4.0]},
    },
    "scores-default": {
        "description": "scores regime: the default detector (reference for the other scores-* presets); "
                       "2 rows x 30 m, RTK fixed",
        "field": {"rows": 2, "row_length_m": 30.0},
        "camera_timing": UNSYNCHRONISED_CAMERAS,
    },
    "hard": {
        "description": "dense look-alike flowers, GNSS dropouts, RTK float, and a second pass over the same "
                       "rows in the opposite direction: 2 rows x 30 m",
        "field": {"rows": 2, "row_length_m": 30.0},
        "flowers": {"per_plant_mean": 1.5, "clustering_k": 0.3, "appearance_prototypes": 3,
                    "appearance_spread": 0.12},
        "drive": {"passes": 2, "second_pass_lateral_offset_m": 0.08},
        "gnss": {"mode": "rtk_float", "dropouts_per_minute": 2.0, "dropout_duration_s": 4.0},
        "detection": {"false_positives_per_frame": 0.6, "detect_probability": 0.85, "occlusion_base": 0.25,
                      "distractors_per_m": 0.5, "distractor_detect_probability": 0.6},
        "camera_timing": {"cam_left": {"offset_s": 0.0, "jitter_s": 0.004},
                          "cam_center": {"offset_s": 0.013, "jitter_s": 0.004},
                          "cam_right": {"offset_s": 0.027, "jitter_s": 0.004}},
    },
}


def preset_names() -> Dict[str, str]:
    """Preset name -> one-line description."""
    return {name: data["description"] for name, data in PRESETS.items()}


def preset_config(name: str, overrides: Mapping[str, Any] | None = None) -> SimConfig:
    """The SimConfig of a named preset, optionally deep-merged with overrides."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'; presets are {sorted(PRESETS)}")
    data = merge_dicts(PRESETS[name], {"name": name})
    if overrides:
        data = merge_dicts(data, overrides)
    return sim_config_from_dict(data, where=f"preset {name}")


def load_sim_config(path: Union[str, Path]) -> SimConfig:
    """A SimConfig from a YAML file; a top-level ``preset: NAME`` key starts from that preset."""
    path = Path(path)
    data = load_yaml_mapping(path, "simulation config")
    preset = data.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"{path}: unknown preset '{preset}'; presets are {sorted(PRESETS)}")
        data = merge_dicts(merge_dicts(PRESETS[preset], {"name": preset}), data)
    return sim_config_from_dict(data, where=str(path))


def resolve_config(preset_or_config: Union[str, Path, SimConfig, Mapping[str, Any]]) -> SimConfig:
    """A SimConfig from a preset name, a YAML path, a plain dict or a SimConfig."""
    if isinstance(preset_or_config, SimConfig):
        return preset_or_config
    if isinstance(preset_or_config, Mapping):
        return sim_config_from_dict(preset_or_config)
    if isinstance(preset_or_config, str) and preset_or_config in PRESETS:
        return preset_config(preset_or_config)
    path = Path(preset_or_config)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_sim_config(path)
    raise ConfigError(f"'{preset_or_config}' is neither a preset ({sorted(PRESETS)}) nor a YAML file")
