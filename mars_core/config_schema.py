"""Configuration objects: frozen dataclasses whose fields carry their description, with one loader for
YAML/dict data (offline tools) and one for ROS parameters (mars_ros.node_pattern.parameters).

Each config class is the single place where its keys, defaults, descriptions and checks live::

    @dataclass(frozen=True)
    class TrackerConfig:
        max_age_s: float = config_field(1.0, "Seconds a lost track is kept", minimum=0.0)

check_config is the one check of the fields' rules (type, choices, finiteness, inclusive and exclusive
bounds); a class's __post_init__ adds only the checks that relate two fields.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import typing
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key.

    ``key`` and ``rule`` are set when the error is about one field (e.g. "min_hits", "must be >= 1, got 0"),
    so that a caller can name it its own way (a ROS parameter with its prefix)."""

    def __init__(self, message: str, key: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.rule = rule


def config_field(default: Any, description: str, *, minimum: Optional[float] = None,
                 maximum: Optional[float] = None, greater_than: Optional[float] = None,
                 less_than: Optional[float] = None, choices: Optional[Tuple[Any, ...]] = None,
                 finite: bool = True, read_only: bool = False) -> Any:
    """A dataclass field with its description and checks (checked by check_config).

    minimum/maximum are inclusive bounds, greater_than/less_than exclusive ones ("must be positive" is
    greater_than=0.0); numeric tuples have every item checked. Float values must be finite unless
    finite=False.
    """
    if minimum is not None and greater_than is not None:
        raise TypeError("give minimum or greater_than, not both")
    if maximum is not None and less_than is not None:
        raise TypeError("give maximum or less_than, not both")
    meta = {"description": description, "minimum": minimum, "maximum": maximum, "greater_than": greater_than,
            "less_than": less_than, "choices": choices, "finite": finite, "read_only": read_only}
    if isinstance(default, (list, dict, set)):
        raise TypeError("config defaults must be immutable: use a tuple")
    return dataclasses.field(default=default, metadata=meta)


def _bound_text(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:.12g}"


def range_text(metadata: Mapping[str, Any]) -> str:
    """The range rule of a field's metadata in words ("must lie in (0, 2]", "must be >= 1"); "" if none."""
    low, high = metadata.get("minimum"), metadata.get("maximum")
    low_open, high_open = metadata.get("greater_than"), metadata.get("less_than")
    lower = f"[{_bound_text(low)}" if low is not None else f"({_bound_text(low_open)}" if low_open is not None else ""
    upper = f"{_bound_text(high)}]" if high is not None else f"{_bound_text(high_open)})" if high_open is not None else ""
    if lower and upper:
        return f"must lie in {lower}, {upper}"
    if lower:
        return f"must be {'>=' if low is not None else '>'} {lower[1:]}"
    if upper:
        return f"must be {'<=' if high is not None else '<'} {upper[:-1]}"
    return ""


def _in_range(value: float, metadata: Mapping[str, Any]) -> bool:
    # Written as "not inside" so that NaN, which compares false with everything, is out of every range.
    checks = (("minimum", lambda b: value >= b), ("greater_than", lambda b: value > b),
              ("maximum", lambda b: value <= b), ("less_than", lambda b: value < b))
    return all(metadata.get(name) is None or inside(metadata[name]) for name, inside in checks)


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


@functools.lru_cache(maxsize=None)
def _fields_with_types(cls: type) -> Tuple[Tuple[dataclasses.Field, Any], ...]:
    hints = field_types(cls)
    return tuple((f, hints[f.name]) for f in dataclasses.fields(cls))


def _plain_hint(hint: Any) -> Any:
    """X for Optional[X], the hint itself otherwise."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _field_problem(value: Any, hint: Any, meta: Mapping[str, Any]) -> Optional[str]:
    """Why value does not fit its field (type, choices, finiteness, range), or None."""
    if value is None:
        return None  # Optional fields: null means "not set"; a required one would have failed its type
    hint = _plain_hint(hint)
    if hint is bool and not isinstance(value, bool):
        return "must be true or false"
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be an integer"
    if hint is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "must be a number"
    if hint is str and not isinstance(value, str):
        return "must be a string"
    if meta.get("choices") is not None and value not in meta["choices"]:
        return f"must be one of {list(meta['choices'])}"
    values = value if isinstance(value, tuple) else (value,)
    rule = range_text(meta)
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if isinstance(v, float) and meta.get("finite", False) and not math.isfinite(v):
                return "must be finite"
            if rule and not _in_range(v, meta):
                return rule
    return None


def check_config(config: Any, where: str = "") -> None:
    """Check every field of a config dataclass against its type, choices, finiteness and range (the one
    validation path of every config class); ConfigError names the field. Float fields given an int or a
    numpy scalar hold a plain float afterwards."""
    prefix = f"{where}." if where else ""
    config_class: type = type(config)
    for f, hint in _fields_with_types(config_class):
        value = getattr(config, f.name)
        problem = _field_problem(value, hint, f.metadata)
        if problem is not None:
            rule = f"{problem}, got {value!r}"
            raise ConfigError(f"{prefix}{f.name} {rule}", key=f.name, rule=rule)
        if _plain_hint(hint) is float and value is not None and type(value) is not float:
            # A numpy float64 would not be a "weak" scalar in numpy arithmetic: keep float32 maths float32.
            object.__setattr__(config, f.name, float(value))


def check_known_keys(data: Mapping[str, Any], known: Iterable[str], where: str = "") -> None:
    """ConfigError naming every key of data that is not in known, with the closest known key as a suggestion
    (a typo such as `trackr:` must not be ignored silently)."""
    names = sorted(known)
    unknown = sorted(str(k) for k in data if k not in names)
    if not unknown:
        return
    prefix = f"{where}." if where else ""
    named = []
    for key in unknown:
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        named.append(f"{prefix}{key}" + (f" (did you mean {close[0]}?)" if close else ""))
    raise ConfigError(f"unknown key(s) {', '.join(named)}; known keys: {', '.join(names)}", key=unknown[0],
                      rule="unknown key")


def config_from_dict(cls: Type[T], data: Optional[Mapping[str, Any]], where: str = "") -> T:
    """Build and check a config dataclass from plain data; unknown or ill-typed keys raise ConfigError."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
    data = dict(data or {})
    prefix = f"{where}." if where else ""
    types = field_types(cls)
    check_known_keys(data, types, where)
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
