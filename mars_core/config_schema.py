"""Configuration objects: frozen dataclasses whose fields carry their description, with one loader for
YAML/dict data (offline tools) and one for ROS parameters (mars_ros.node_pattern.parameters).

Each config class is the single place where its keys, defaults, descriptions and checks live::

    @dataclass(frozen=True)
    class TrackerConfig:
        max_age_s: float = config_field(1.0, "Seconds a lost track is kept", minimum=0.0)
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


def config_field(default: Any, description: str, *, minimum: Optional[float] = None,
                 maximum: Optional[float] = None, choices: Optional[Tuple[Any, ...]] = None,
                 read_only: bool = False) -> Any:
    """A dataclass field with its description and range/choice checks (checked by check_config)."""
    meta = {"description": description, "minimum": minimum, "maximum": maximum, "choices": choices,
            "read_only": read_only}
    if isinstance(default, (list, dict, set)):
        raise TypeError("config defaults must be immutable: use a tuple")
    return dataclasses.field(default=default, metadata=meta)


def field_types(cls: type) -> Dict[str, Any]:
    """Resolved type hints of a config dataclass's fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union:  # Optional[X]
        args: Sequence[Any] = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin in (tuple, Tuple):
        args = typing.get_args(hint)
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if args and args[-1] is not Ellipsis:  # fixed length, e.g. Tuple[float, float, float]
            if len(value) != len(args):
                raise ConfigError(f"{key} must be a list of {len(args)} values, got {value!r}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def coerce_value(value: Any, hint: Any, key: str) -> Any:
    """value checked against a type hint (bool, int, float, str, tuples, Optional) and converted; ConfigError
    names key when it does not fit."""
    return _coerce(value, hint, key)


def check_config(config: Any, where: str = "") -> None:
    """Check every field of a config dataclass against its range/choices; ConfigError names the field."""
    prefix = f"{where}." if where else ""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        meta = f.metadata
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise ConfigError(f"{prefix}{f.name} must be one of {list(meta['choices'])}, got {value!r}")
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if meta.get("minimum") is not None and v < meta["minimum"]:
                    raise ConfigError(f"{prefix}{f.name} must be >= {meta['minimum']}, got {value!r}")
                if meta.get("maximum") is not None and v > meta["maximum"]:
                    raise ConfigError(f"{prefix}{f.name} must be <= {meta['maximum']}, got {value!r}")


def config_from_dict(cls: Type[T], data: Optional[Mapping[str, Any]], where: str = "") -> T:
    """Build and check a config dataclass from plain data; unknown or ill-typed keys raise ConfigError."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
    data = dict(data or {})
    prefix = f"{where}." if where else ""
    types = field_types(cls)
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                          f"known keys: {', '.join(sorted(types))}")
    values = {k: _coerce(v, types[k], prefix + k) for k, v in data.items()}
    try:
        config = cls(**values)
    except ValueError as exc:  # ConfigError included: the class's own checks name the field
        text = str(exc)
        raise ConfigError(f"{where}: {text}" if where and not text.startswith(prefix) else text) from None
    check_config(config, where)
    return config


def load_yaml_mapping(path: Union[str, Path], what: str) -> Dict[str, Any]:
    """A YAML file whose top level is a mapping; ConfigError naming the file (as `what`) otherwise."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a mapping at the top level")
    return data


def config_to_dict(config: Any) -> Dict[str, Any]:
    """Plain data (lists for tuples) of a config dataclass, e.g. to write next to results."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out
