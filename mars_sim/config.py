"""The simulation configuration: world, robot drive, GNSS, heading, camera timing, detection and rendering.

A configuration is plain data (a nested dict, e.g. a YAML file) validated into frozen dataclasses by
``sim_config_from_dict``; every error names the offending key. ``SimConfig.to_dict`` gives back the plain
form (written next to the bag as ``sim_config.yaml``). The rig itself (cameras, GNSS lever arm) is a
``mars_core.rig.RigConfig`` built with ``rig_from_dict`` (default: config/mars_rig.yaml).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Type, TypeVar

from mars_core.config_schema import coerce_value, config_from_dict
from mars_core.rig import ConfigError, RigConfig, load_rig, rig_from_dict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RIG_PATH = REPO_ROOT / "config" / "mars_rig.yaml"

GNSS_MODES = ("rtk_fixed", "rtk_float", "gnss")
HEADING_SOURCES = ("imu", "none")


@dataclass(frozen=True)
class DatumConfig:
    """Geodetic origin of the local ``map`` frame (default: a cotton field near Tifton, south Georgia)."""

    latitude: float = 31.4740
    longitude: float = -83.5285
    altitude: float = 110.0


@dataclass(frozen=True)
class FieldConfig:
    """Rows of plants: rows run along ``row_direction_rad`` (REP-103 yaw in map, 0 = +x = east)."""

    rows: int = 4
    row_length_m: float = 100.0
    row_spacing_m: float = 0.97          # 38-inch cotton rows
    row_direction_rad: float = 0.0
    origin_xy: Tuple[float, float] = (0.0, 0.0)   # start of the first row in map
    plant_spacing_m: float = 0.10
    plant_gap_probability: float = 0.05  # missing plants
    leaves_per_plant: int = 8
    plot_length_m: float = 5.0           # trial plots along each row (truth/plots.geojson, hand_counts.csv)


@dataclass(frozen=True)
class FlowerConfig:
    """Flowers per plant (negative binomial: clustered), their 3-D placement, size and latent appearance."""

    per_plant_mean: float = 0.35
    clustering_k: float = 0.6            # negative-binomial dispersion: smaller = more clustered
    height_mean_m: float = 0.75
    height_sd_m: float = 0.22
    height_range_m: Tuple[float, float] = (0.3, 1.2)
    lateral_sd_m: float = 0.12           # across the row, around the plant
    along_sd_m: float = 0.04
    diameter_mean_m: float = 0.065
    diameter_sd_m: float = 0.012
    appearance_prototypes: int = 8       # appearance families; flowers of one family look alike
    appearance_spread: float = 0.45      # within-family spread of the latent vector (small = look-alikes)
    feature_dim: int = 64


@dataclass(frozen=True)
class DriveConfig:
    """The robot's drive: speed, headland turns, passes over the rows."""

    speed_mps: float = 0.5
    headland_m: float = 1.5              # driven past each row end before turning
    turn_radius_m: float = 1.0
    passes: int = 1                      # 2 = a second pass over the same rows in the opposite direction
    second_pass_lateral_offset_m: float = 0.0
    lateral_wander_m: float = 0.03       # sd of the smooth steering wander around the row centre line
    rows_to_drive: Optional[Tuple[int, ...]] = None   # None = all rows
    start_time_ns: int = 1_784_127_600_000_000_000    # 2026-07-15 15:00 UTC (flowering season)


@dataclass(frozen=True)
class GnssConfig:
    """Receiver model: white noise plus a Gauss-Markov (slowly wandering) bias per axis, optional dropouts."""

    mode: str = "rtk_fixed"
    rate_hz: float = 10.0
    white_sd_m: Optional[float] = None   # None = the mode's default
    bias_sd_m: Optional[float] = None
    bias_tau_s: Optional[float] = None
    vertical_factor: float = 2.0         # vertical sd = factor x horizontal sd
    dropouts_per_minute: float = 0.0
    dropout_duration_s: float = 3.0

    def noise(self) -> Tuple[float, float, float]:
        """(white sd, bias sd, bias correlation time) per horizontal axis for this mode."""
        defaults = GNSS_MODE_NOISE[self.mode]
        return (defaults[0] if self.white_sd_m is None else self.white_sd_m,
                defaults[1] if self.bias_sd_m is None else self.bias_sd_m,
                defaults[2] if self.bias_tau_s is None else self.bias_tau_s)

    @property
    def horizontal_sd_m(self) -> float:
        """Total per-axis horizontal standard deviation (what the covariance reports)."""
        white, bias, _ = self.noise()
        return float((white ** 2 + bias ** 2) ** 0.5)


# mode: (white sd m, bias sd m, bias tau s). RTK fixed ~2 cm, float tens of cm, plain GNSS metres.
GNSS_MODE_NOISE: Dict[str, Tuple[float, float, float]] = {
    "rtk_fixed": (0.010, 0.015, 300.0),
    "rtk_float": (0.050, 0.250, 120.0),
    "gnss": (0.300, 1.500, 300.0),
}


@dataclass(frozen=True)
class HeadingConfig:
    """Heading source: an IMU orientation (yaw noise + slowly wandering bias) or none (use course over ground)."""

    source: str = "imu"
    rate_hz: float = 50.0
    yaw_white_sd_rad: float = 0.005
    yaw_bias_sd_rad: float = 0.01
    yaw_bias_tau_s: float = 200.0
    gyro_sd_rad_s: float = 0.002


@dataclass(frozen=True)
class CameraTimingConfig:
    """Capture stamps of one camera: constant offset and random jitter of each frame's exposure time."""

    offset_s: float = 0.0
    jitter_s: float = 0.002


@dataclass(frozen=True)
class DetectionModelConfig:
    """Detector behaviour at the detection level: recall, occlusion, box noise, false positives, features."""

    detect_probability: float = 0.92     # of a visible, unoccluded flower
    occlusion_base: float = 0.15         # fraction of viewing directions blocked by leaves at the canopy top
    occlusion_depth_gain: float = 0.35   # extra occlusion at the canopy bottom
    occlusion_smoothness: float = 5.0    # angular frequency of the occlusion pattern (higher = choppier)
    min_box_px: float = 8.0
    min_in_image_fraction: float = 0.5   # drop boxes mostly outside the image
    box_jitter_fraction: float = 0.04    # sd of centre/size noise relative to the box size
    false_positives_per_frame: float = 0.2   # random one-frame false positives
    distractors_per_m: float = 0.1       # persistent flower-like objects per metre of row (false tracks)
    distractor_detect_probability: float = 0.5
    feature_view_noise: float = 0.12     # per-view noise on the latent appearance
    feature_view_gain: float = 0.25      # smooth view-dependent appearance change
    feature_model_id: str = "sim-appearance-v1"
    score_tp_beta: Tuple[float, float] = (8.0, 2.0)
    score_fp_beta: Tuple[float, float] = (2.0, 4.0)
    score_distractor_beta: Tuple[float, float] = (3.0, 3.0)


@dataclass(frozen=True)
class RenderConfig:
    """Image level: resolution scale, JPEG quality, lighting and blur variation."""

    scale: float = 1.0                   # render at scale x camera resolution (labels always in full pixels)
    jpeg_quality: int = 90
    brightness_range: Tuple[float, float] = (0.75, 1.2)
    blur_sigma_max_px: float = 1.5
    motion_blur_max_px: float = 4.0
    image_every_n_frames: int = 3        # images in the bag for every n-th frame (30 fps -> 10 Hz)


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulation needs besides the seed."""

    name: str = "custom"
    description: str = ""
    datum: DatumConfig = dc_field(default_factory=DatumConfig)
    field: FieldConfig = dc_field(default_factory=FieldConfig)
    flowers: FlowerConfig = dc_field(default_factory=FlowerConfig)
    drive: DriveConfig = dc_field(default_factory=DriveConfig)
    gnss: GnssConfig = dc_field(default_factory=GnssConfig)
    heading: HeadingConfig = dc_field(default_factory=HeadingConfig)
    camera_timing: Dict[str, CameraTimingConfig] = dc_field(default_factory=dict)
    detection: DetectionModelConfig = dc_field(default_factory=DetectionModelConfig)
    render: RenderConfig = dc_field(default_factory=RenderConfig)
    rig: Dict[str, Any] = dc_field(default_factory=dict)   # rig section (config/mars_rig.yaml format)
    duration_s: Optional[float] = None    # cut the drive after this long (None = the whole drive)

    def rig_config(self) -> RigConfig:
        """The validated rig (cameras, GNSS lever arm)."""
        return rig_from_dict(self.rig, where="sim.rig")

    def timing(self, camera: str) -> CameraTimingConfig:
        """Stamp model of a camera (default offsets when not configured)."""
        return self.camera_timing.get(camera, CameraTimingConfig())

    def to_dict(self) -> Dict[str, Any]:
        """Plain-data form, accepted by sim_config_from_dict."""
        out = asdict(self)
        return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


T = TypeVar("T")


def _section(cls: Type[T], data: Any, where: str) -> T:
    """Build a frozen dataclass from a mapping, rejecting unknown keys and ill-typed values."""
    return config_from_dict(cls, data, where)


def _positive(value: float, where: str) -> None:
    if not value > 0:
        raise ConfigError(f"{where} must be positive, got {value}")


def _probability(value: float, where: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{where} must lie in [0, 1], got {value}")


def sim_config_from_dict(data: Mapping[str, Any], where: str = "sim",
                         default_rig_path: Path = DEFAULT_RIG_PATH) -> SimConfig:
    """Validate plain data into a SimConfig; a missing rig section takes config/mars_rig.yaml."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    sections: Dict[str, Type[Any]] = {"datum": DatumConfig, "field": FieldConfig, "flowers": FlowerConfig,
                                      "drive": DriveConfig, "gnss": GnssConfig, "heading": HeadingConfig,
                                      "detection": DetectionModelConfig, "render": RenderConfig}
    allowed = set(sections) | {"name", "description", "camera_timing", "rig", "duration_s", "seed"}  # seed: recorded, not used
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(allowed)}")
    built = {key: _section(cls, data.get(key), f"{where}.{key}") for key, cls in sections.items()}
    timing_data = data.get("camera_timing") or {}
    if not isinstance(timing_data, Mapping):
        raise ConfigError(f"{where}.camera_timing must be a mapping of camera name -> timing")
    timing = {str(k): _section(CameraTimingConfig, v, f"{where}.camera_timing.{k}") for k, v in timing_data.items()}
    rig_data = data.get("rig")
    if rig_data is None:
        rig_data = load_rig(default_rig_path).to_dict()
    rig = rig_from_dict(rig_data, where=f"{where}.rig")   # validate now, keep plain data
    for cam in timing:
        if cam not in rig.camera_names:
            raise ConfigError(f"{where}.camera_timing.{cam}: no such camera; cameras are {list(rig.camera_names)}")
    duration = data.get("duration_s")
    if duration is not None:
        duration = coerce_value(duration, float, f"{where}.duration_s")
        _positive(duration, f"{where}.duration_s")
    cfg = SimConfig(name=str(data.get("name", "custom")), description=str(data.get("description", "")),
                    camera_timing=timing, rig=rig.to_dict(), duration_s=duration, **built)
    _validate(cfg, where)
    return cfg


def _validate(cfg: SimConfig, where: str) -> None:
    f, fl, d, g, h, det = cfg.field, cfg.flowers, cfg.drive, cfg.gnss, cfg.heading, cfg.detection
    if f.rows < 1:
        raise ConfigError(f"{where}.field.rows must be at least 1, got {f.rows}")
    for key in ("row_length_m", "row_spacing_m", "plant_spacing_m", "plot_length_m"):
        _positive(getattr(f, key), f"{where}.field.{key}")
    _probability(f.plant_gap_probability, f"{where}.field.plant_gap_probability")
    if fl.per_plant_mean < 0:
        raise ConfigError(f"{where}.flowers.per_plant_mean must be >= 0, got {fl.per_plant_mean}")
    for key in ("clustering_k", "diameter_mean_m", "appearance_spread"):
        _positive(getattr(fl, key), f"{where}.flowers.{key}")
    if fl.appearance_prototypes < 1 or fl.feature_dim < 4:
        raise ConfigError(f"{where}.flowers: appearance_prototypes must be >= 1 and feature_dim >= 4, got "
                          f"{fl.appearance_prototypes}, {fl.feature_dim}")
    lo, hi = fl.height_range_m
    if not 0 <= lo < hi:
        raise ConfigError(f"{where}.flowers.height_range_m must be [low, high] with 0 <= low < high, got {[lo, hi]}")
    for key in ("speed_mps", "turn_radius_m"):
        _positive(getattr(d, key), f"{where}.drive.{key}")
    if d.passes not in (1, 2):
        raise ConfigError(f"{where}.drive.passes must be 1 or 2, got {d.passes}")
    if d.rows_to_drive is not None:
        bad = [r for r in d.rows_to_drive if not 0 <= r < f.rows]
        if bad or not d.rows_to_drive:
            raise ConfigError(f"{where}.drive.rows_to_drive must list rows in 0..{f.rows - 1}, got {list(d.rows_to_drive)}")
    if g.mode not in GNSS_MODES:
        raise ConfigError(f"{where}.gnss.mode must be one of {list(GNSS_MODES)}, got {g.mode!r}")
    _positive(g.rate_hz, f"{where}.gnss.rate_hz")
    white, bias, tau = g.noise()
    if white < 0 or bias < 0 or tau <= 0:
        raise ConfigError(f"{where}.gnss: noise sds must be >= 0 and bias_tau_s > 0, got {white}, {bias}, {tau}")
    if h.source not in HEADING_SOURCES:
        raise ConfigError(f"{where}.heading.source must be one of {list(HEADING_SOURCES)}, got {h.source!r}")
    _positive(h.rate_hz, f"{where}.heading.rate_hz")
    for key in ("detect_probability", "occlusion_base", "occlusion_depth_gain", "min_in_image_fraction",
                "distractor_detect_probability"):
        _probability(getattr(det, key), f"{where}.detection.{key}")
    if det.false_positives_per_frame < 0 or det.distractors_per_m < 0:
        raise ConfigError(f"{where}.detection: false_positives_per_frame and distractors_per_m must be >= 0, got "
                          f"{det.false_positives_per_frame}, {det.distractors_per_m}")
    if not det.feature_model_id:
        raise ConfigError(f"{where}.detection.feature_model_id must not be empty")
    _positive(cfg.render.scale, f"{where}.render.scale")
    if cfg.render.image_every_n_frames < 1:
        raise ConfigError(f"{where}.render.image_every_n_frames must be >= 1")


def merge_dicts(base: Mapping[str, Any], override: Mapping[str, Any]) -> Dict[str, Any]:
    """Deep-merge override into a copy of base (mappings merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
