"""Compile configuration: a small YAML with good defaults (see models/hailo/compile.yaml)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mars_hailo.errors import CompileConfigError

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
    # Input sizes tried in order; a resource-allocation failure in compile steps to the next one. A number is a
    # fraction of the ONNX input size (rounded down to a multiple of 32), [height, width] an absolute size.
    resolution_ladder: tuple[float | tuple[int, int], ...] = (1.0, 0.9, 0.8, 0.7, 0.6)
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
        d["resolution_ladder"] = [list(r) if isinstance(r, tuple) else r for r in self.resolution_ladder]
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


def _ladder(value: Any, where: str) -> tuple[float | tuple[int, int], ...]:
    if not isinstance(value, list) or not value:
        raise CompileConfigError(f"{where}: expected a non-empty list, got {value!r}")
    out: list[float | tuple[int, int]] = []
    for i, item in enumerate(value):
        if isinstance(item, float) or (isinstance(item, int) and not isinstance(item, bool) and item <= 1):
            if not 0.1 <= float(item) <= 1.0:
                raise CompileConfigError(f"{where}[{i}]: a fraction of the ONNX input size must be in 0.1..1.0, "
                                         f"got {item!r}")
            out.append(float(item))
        elif (isinstance(item, (list, tuple)) and len(item) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 and v % 32 == 0 for v in item)):
            out.append((int(item[0]), int(item[1])))
        else:
            raise CompileConfigError(f"{where}[{i}]: expected a fraction (e.g. 0.8) or [height, width] in "
                                     f"multiples of 32, got {item!r}")
    return tuple(out)


def resolve_ladder(ladder: tuple[float | tuple[int, int], ...], onnx_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """Concrete input sizes to try for an ONNX exported at onnx_hw: never larger than it, no repeats."""
    out: list[tuple[int, int]] = []
    for item in ladder:
        if isinstance(item, tuple):
            hw = item
        else:
            hw = (max(int(onnx_hw[0] * item) // 32 * 32, 32), max(int(onnx_hw[1] * item) // 32 * 32, 32))
            if item == 1.0:
                hw = onnx_hw  # the exported size itself, even if not a multiple of 32
        if hw[0] <= onnx_hw[0] and hw[1] <= onnx_hw[1] and hw not in out:
            out.append(hw)
    return out or [onnx_hw]


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
        kwargs["resolution_ladder"] = _ladder(data["resolution_ladder"], f"{source}:resolution_ladder")
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
