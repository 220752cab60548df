"""Compile configuration: a small YAML with good defaults (see models/hailo/compile.yaml)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mars_camera.hailo_compile.errors import CompileConfigError

HW_ARCHES = ("hailo8", "hailo8l")
NMS_ENGINES = ("cpu", "nn_core", "auto")


@dataclass(frozen=True)
class NmsConfig:
    """NMS post-processing added by the DFC (on the host CPU by HailoRT, or on the chip)."""

    enabled: bool = True
    engine: str = "cpu"
    score_threshold: float = 0.2
    iou_threshold: float = 0.7
    max_proposals_per_class: int = 100


@dataclass(frozen=True)
class OptimizeConfig:
    """Quantization settings written into the model script."""

    optimization_level: int = 2
    compression_level: int = 1
    batch_size: int = 8
    calibset_size: int = 1024
    # RAM known to be needed (GB) at 640x640: fixed part + per image of the optimize batch; scaled by pixels.
    ram_base_gb: float = 12.0
    ram_per_batch_image_gb: float = 1.5
    vram_per_batch_image_gb: float = 1.0
    oom_retries: int = 2


@dataclass(frozen=True)
class CompilerConfig:
    """Compiler settings written into the model script."""

    compiler_optimization_level: str = "max"
    ram_gb: float = 16.0


@dataclass(frozen=True)
class CompileConfig:
    """Everything `mars-hailo compile` needs beyond the ONNX and the calibration array."""

    hw_arch: str = "hailo8"
    net_name: str = "mars_yolo"
    # Input sizes (height, width) tried in order: a resource-allocation failure steps to the next one.
    resolution_ladder: tuple[tuple[int, int], ...] = ((640, 640), (576, 576), (512, 512), (448, 448), (384, 384))
    feature_output: str = "features"
    normalization_mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    normalization_std: tuple[float, float, float] = (255.0, 255.0, 255.0)
    class_activation: str = "sigmoid"
    parse_ram_gb: float = 4.0
    nms: NmsConfig = field(default_factory=NmsConfig)
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    compiler: CompilerConfig = field(default_factory=CompilerConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML/JSON friendly)."""
        d = dataclasses.asdict(self)
        d["resolution_ladder"] = [list(r) for r in self.resolution_ladder]
        d["normalization_mean"] = list(self.normalization_mean)
        d["normalization_std"] = list(self.normalization_std)
        return d

    def fingerprint(self) -> str:
        """Stable hash of the configuration (part of the stage fingerprints)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _sub(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise CompileConfigError(f"{where}: expected a mapping, got {data!r}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise CompileConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise CompileConfigError(f"{where}.{key}: expected true/false, got {value!r}")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CompileConfigError(f"{where}.{key}: expected a number, got {value!r}")
            if isinstance(default, int) and not isinstance(default, bool) and float(value) != int(value):
                raise CompileConfigError(f"{where}.{key}: expected an integer, got {value!r}")
            value = type(default)(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise CompileConfigError(f"{where}.{key}: expected a string, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def _triple(value: Any, where: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise CompileConfigError(f"{where}: expected 3 numbers, got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def compile_config_from_dict(data: dict[str, Any], source: str = "<dict>") -> CompileConfig:
    """Build and check a CompileConfig from a mapping; missing keys take the defaults."""
    if not isinstance(data, dict):
        raise CompileConfigError(f"{source}: expected a mapping at top level, got {type(data).__name__}")
    nested = {"nms": NmsConfig, "optimize": OptimizeConfig, "compiler": CompilerConfig}
    special = {"resolution_ladder", "normalization_mean", "normalization_std"}
    flat = {k: v for k, v in data.items() if k not in nested and k not in special}
    base = _sub(CompileConfig, flat, source)
    kwargs: dict[str, Any] = {}
    for key, cls in nested.items():
        if key in data:
            kwargs[key] = _sub(cls, data[key], f"{source}:{key}")
    if "resolution_ladder" in data:
        ladder = data["resolution_ladder"]
        if not isinstance(ladder, list) or not ladder:
            raise CompileConfigError(f"{source}:resolution_ladder: expected a non-empty list, got {ladder!r}")
        sizes = []
        for i, item in enumerate(ladder):
            if isinstance(item, int):
                item = [item, item]
            if (not isinstance(item, (list, tuple)) or len(item) != 2
                    or not all(isinstance(v, int) and v > 0 and v % 32 == 0 for v in item)):
                raise CompileConfigError(
                    f"{source}:resolution_ladder[{i}]: expected [height, width] multiples of 32, got {item!r}")
            sizes.append((int(item[0]), int(item[1])))
        kwargs["resolution_ladder"] = tuple(sizes)
    for key in ("normalization_mean", "normalization_std"):
        if key in data:
            kwargs[key] = _triple(data[key], f"{source}:{key}")
    config = dataclasses.replace(base, **kwargs)
    _check(config, source)
    return config


def _check(config: CompileConfig, source: str) -> None:
    if config.hw_arch not in HW_ARCHES:
        raise CompileConfigError(f"{source}:hw_arch: {config.hw_arch!r} is not one of {HW_ARCHES}")
    if config.nms.engine not in NMS_ENGINES:
        raise CompileConfigError(f"{source}:nms.engine: {config.nms.engine!r} is not one of {NMS_ENGINES}")
    if not 0 <= config.optimize.optimization_level <= 4:
        raise CompileConfigError(f"{source}:optimize.optimization_level: {config.optimize.optimization_level} "
                                 "is outside 0..4")
    if not 0 <= config.optimize.compression_level <= 5:
        raise CompileConfigError(f"{source}:optimize.compression_level: {config.optimize.compression_level} "
                                 "is outside 0..5")
    if config.optimize.batch_size < 1:
        raise CompileConfigError(f"{source}:optimize.batch_size: must be >= 1, got {config.optimize.batch_size}")
    if not 1 <= config.optimize.calibset_size <= 1024:
        raise CompileConfigError(f"{source}:optimize.calibset_size: must be in 1..1024 (the DFC maximum), "
                                 f"got {config.optimize.calibset_size}")
    if not config.net_name.replace("_", "").isalnum():
        raise CompileConfigError(f"{source}:net_name: {config.net_name!r} must be letters, digits and _")
    if any(s <= 0 for s in config.normalization_std):
        raise CompileConfigError(f"{source}:normalization_std: values must be > 0, got {config.normalization_std}")


def load_compile_config(path: str | Path | None) -> CompileConfig:
    """Load a compile YAML (None -> all defaults)."""
    if path is None:
        return CompileConfig()
    p = Path(path)
    if not p.is_file():
        raise CompileConfigError(f"compile config {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CompileConfigError(f"compile config {p} is not valid YAML: {exc}") from exc
    return compile_config_from_dict(data, str(p))
