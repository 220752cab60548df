"""ROS parameters <-> config dataclasses (see mars_core.config_schema)."""
from __future__ import annotations

import dataclasses
import difflib
import math
import threading
import typing
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType,
                                SetParametersResult)
from rclpy.exceptions import InvalidParameterValueException, ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from mars_core.config_schema import ConfigError, check_config, config_from_dict, field_types, range_text

T = TypeVar("T")

_ARRAY_TYPES = {float: Parameter.Type.DOUBLE_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                str: Parameter.Type.STRING_ARRAY, bool: Parameter.Type.BOOL_ARRAY}
_SCALAR_TYPES = {float: Parameter.Type.DOUBLE, int: Parameter.Type.INTEGER, str: Parameter.Type.STRING,
                 bool: Parameter.Type.BOOL}
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _parameter_type(hint: Any, name: str) -> Parameter.Type:
    if typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return _ARRAY_TYPES[typing.get_args(hint)[0]]
    if hint in _SCALAR_TYPES:
        return _SCALAR_TYPES[hint]
    raise TypeError(f"config field {name}: type {hint!r} cannot be a ROS parameter")


# What a runtime change (`ros2 param set`) of a parameter does, as said in its description.
APPLIED, START_UP_ONLY, READ_ONLY = "applied at runtime", "start-up only", "read-only"


def parameter_descriptor(f: dataclasses.Field, ptype: Parameter.Type,
                         runtime: Optional[str] = None) -> ParameterDescriptor:
    """The ROS descriptor of a config field: description (with its choices and, when given, what a runtime
    change does), read-only flag, type, and the field's range as a FloatingPointRange / IntegerRange (ROS ranges
    are closed: an exclusive bound is given as that bound, and config_field's own check rejects it; an open end
    is +-inf or the int64 limit)."""
    meta = f.metadata
    description = str(meta.get("description", ""))
    constraints = [range_text(meta)] if range_text(meta) else []
    if meta.get("choices") is not None:
        choices = ", ".join(str(c) for c in meta["choices"])
        description = f"{description} (one of: {choices})"
        constraints.append(f"one of: {choices}")
    if runtime is not None:
        description = f"{description} [runtime change: {runtime}]"
    descriptor = ParameterDescriptor(description=description, read_only=bool(meta.get("read_only", False)),
                                     type=ptype.value, additional_constraints="; ".join(constraints))
    low = meta.get("minimum") if meta.get("minimum") is not None else meta.get("greater_than")
    high = meta.get("maximum") if meta.get("maximum") is not None else meta.get("less_than")
    if low is None and high is None:
        return descriptor
    if ptype == Parameter.Type.DOUBLE:
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(low) if low is not None else -math.inf,
            to_value=float(high) if high is not None else math.inf, step=0.0)]
    elif ptype == Parameter.Type.INTEGER:
        # Integer fields' bounds are integers (an exclusive one would be the next integer; none is used).
        descriptor.integer_range = [IntegerRange(
            from_value=math.ceil(low) if low is not None else _INT64_MIN,
            to_value=math.floor(high) if high is not None else _INT64_MAX, step=0)]
    return descriptor


def declare_config_parameters(node: Node, cls: Type[T], prefix: str = "",
                              defaults: Optional[Mapping[str, Any]] = None, defaults_source: str = "",
                              runtime: Optional[Mapping[str, str]] = None) -> T:
    """Declare one parameter per field of cls (with its description) and return the validated config.

    ``defaults`` (e.g. the `tracker:` section of the robot configuration file) replace the dataclass
    defaults; parameters given to the node (launch, --ros-args, params file) override both. ``runtime`` (field
    name -> APPLIED / START_UP_ONLY / READ_ONLY) is what a runtime change does, written into the description.
    Raises ConfigError naming the parameter when a value has the wrong type or is out of range.
    """
    base = config_from_dict(cls, defaults, defaults_source) if defaults else None
    values = {}
    for f, (name, hint) in zip(dataclasses.fields(cls), field_types(cls).items()):
        pname = f"{prefix}{name}"
        ptype = _parameter_type(hint, pname)
        descriptor = parameter_descriptor(f, ptype, (runtime or {}).get(name))
        default = getattr(base, name) if base is not None else f.default
        try:
            if default is None or (isinstance(default, tuple) and not default):
                # rclpy cannot infer a type from None or []: declare statically typed, unset.
                node.declare_parameter(pname, ptype, descriptor)
            else:
                default = list(default) if isinstance(default, tuple) else default
                if ptype == Parameter.Type.DOUBLE_ARRAY:
                    default = [float(v) for v in default]
                elif ptype == Parameter.Type.DOUBLE:
                    default = float(default)
                node.declare_parameter(pname, default, descriptor)
        except Exception as exc:  # an override of the wrong type, or outside the descriptor's range
            rule = range_text(f.metadata)
            if isinstance(exc, InvalidParameterValueException) and rule:
                raise ConfigError(f"parameter {pname} {rule} ({exc})", key=pname, rule=rule) from None
            raise ConfigError(f"parameter '{pname}': {exc}") from None
        try:
            param = node.get_parameter(pname)
        except ParameterUninitializedException:
            continue  # declared without a value and none given: the dataclass default applies
        if param.type_ == Parameter.Type.NOT_SET:
            continue
        value = param.value
        if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
            value = tuple(value)
        values[name] = value
    try:
        config = cls(**values)
        check_config(config)
    except ConfigError as exc:  # a field's own check names the field: name it as the parameter
        raise ConfigError(f"parameter {prefix}{exc.key} {exc.rule}" if exc.key else f"parameter {prefix}{exc}",
                          key=f"{prefix}{exc.key}" if exc.key else "", rule=exc.rule) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid parameters for {cls.__name__}: {exc}") from None
    return config


@dataclasses.dataclass
class _ConfigGroup:
    cls: type
    prefix: str
    config: Any                       # the config the node uses now
    applied: FrozenSet[str]           # fields whose runtime changes the node applies at its next safe point
    refusal: Callable[[str], Optional[str]]  # why a runtime change of another field is refused (None: accepted)
    pending: Optional[Any] = None     # validated config waiting for the node's safe point
    changes: Dict[str, Tuple[Any, Any]] = dataclasses.field(default_factory=dict)


class RuntimeParameters:
    """The config parameters of one node, declared from their dataclasses, and what `ros2 param set` does to them.

    A runtime change is validated against the config schema (type, range, choices, the class's own checks) as
    a whole new config; a valid change of an *applied* field is kept for the node, which takes it with
    ``take()`` at a safe point (between frames) and hands it to its core. Any other change is refused with
    ``SetParametersResult(successful=False, reason=...)`` naming the parameter and why; the node's state (map,
    counts) is untouched by a refused change.
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self._groups: List[_ConfigGroup] = []
        self._lock = threading.Lock()
        node.add_on_set_parameters_callback(self._on_set)

    def declare(self, cls: Type[T], prefix: str = "", defaults: Optional[Mapping[str, Any]] = None,
                defaults_source: str = "", applied: Iterable[str] = (),
                refusal: Optional[Callable[[str], Optional[str]]] = None,
                start_up_reason: str = "it is used only at start-up: restart the node") -> T:
        """Declare the parameters of cls under prefix and return the validated config.

        ``applied``: fields whose runtime changes the node applies (take()); ``refusal(field)`` may accept a
        change of another field (return None, then take() hands it over too, e.g. a lifecycle node that
        is unconfigured) or give the reason it is refused; without it such changes are refused with
        ``start_up_reason``.
        """
        fields = [f.name for f in dataclasses.fields(cls)]
        applied_set = frozenset(applied)
        unknown = applied_set - set(fields)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
        runtime = {f.name: (READ_ONLY if f.metadata.get("read_only") else APPLIED if f.name in applied_set
                            else START_UP_ONLY) for f in dataclasses.fields(cls)}
        config = declare_config_parameters(self._node, cls, prefix, defaults, defaults_source, runtime)
        self._groups.append(_ConfigGroup(cls, prefix, config, applied_set,
                                         refusal or (lambda name: start_up_reason)))
        return config

    def runtime_policy(self) -> Dict[str, str]:
        """Parameter name -> what a runtime change does (APPLIED / START_UP_ONLY / READ_ONLY)."""
        out = {}
        for group in self._groups:
            for f in dataclasses.fields(group.cls):
                out[f"{group.prefix}{f.name}"] = (READ_ONLY if f.metadata.get("read_only") else APPLIED
                                                  if f.name in group.applied else START_UP_ONLY)
        return out

    def take(self, prefix: str = "") -> Optional[Tuple[Any, Dict[str, Tuple[Any, Any]]]]:
        """The new validated config of the group with this prefix and its changes {parameter: (old, new)}
        when runtime changes were accepted since the last take(); None otherwise. Call at a safe point."""
        with self._lock:
            group = self._group(prefix)
            if group.pending is None:
                return None
            config, changes = group.pending, group.changes
            group.config, group.pending, group.changes = config, None, {}
        return config, changes

    def check_no_unknown_overrides(self) -> None:
        """ConfigError naming every parameter given to the node (params file, -p, launch) that it does not
        declare: rclpy would ignore it silently (a typo, or a key of another node)."""
        overrides = getattr(self._node, "_parameter_overrides", {})  # rclpy keeps them here (no public API)
        unknown = sorted(name for name in overrides if not self._node.has_parameter(name))
        if not unknown:
            return
        declared = sorted(self._node._parameters)  # noqa: SLF001 (rclpy has no public list of declared names)
        named = []
        for name in unknown:
            close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
            named.append(name + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError(f"unknown parameter(s) {', '.join(named)} given to node "
                          f"{self._node.get_fully_qualified_name()} (it declares: {', '.join(declared)})",
                          key=unknown[0], rule="unknown parameter")

    def _group(self, prefix: str) -> _ConfigGroup:
        for group in self._groups:
            if group.prefix == prefix:
                return group
        raise KeyError(f"no parameter group with prefix '{prefix}'")

    def _owner(self, name: str) -> Optional[Tuple[_ConfigGroup, str]]:
        for group in self._groups:
            if name.startswith(group.prefix):
                field = name[len(group.prefix):]
                if field in {f.name for f in dataclasses.fields(group.cls)}:
                    return group, field
        return None

    def _on_set(self, parameters: List[Parameter]) -> SetParametersResult:
        with self._lock:
            updates: Dict[int, Dict[str, Any]] = {}
            owners: Dict[int, _ConfigGroup] = {}
            for param in parameters:
                owner = self._owner(param.name)
                if owner is None:
                    continue  # not a config parameter (use_sim_time, or one being declared right now)
                group, field = owner
                if field not in group.applied:
                    reason = group.refusal(field)
                    if reason is not None:
                        return SetParametersResult(successful=False, reason=f"{param.name}: {reason}")
                value = param.value
                if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
                    value = tuple(value)
                updates.setdefault(id(group), {})[field] = value
                owners[id(group)] = group
            staged = {}
            for key, values in updates.items():
                group = owners[key]
                base = group.pending if group.pending is not None else group.config
                try:
                    candidate = dataclasses.replace(base, **values)
                    check_config(candidate)
                except ConfigError as exc:
                    name = f"{group.prefix}{exc.key}" if exc.key else group.prefix.rstrip(".") or "parameters"
                    return SetParametersResult(successful=False,
                                               reason=f"{name} {exc.rule}" if exc.rule else f"{name}: {exc}")
                except (TypeError, ValueError) as exc:
                    return SetParametersResult(successful=False, reason=f"refused: {exc}")
                staged[key] = (group, candidate, values)
            for group, candidate, values in staged.values():
                for field, value in values.items():
                    old = group.changes.get(f"{group.prefix}{field}", (getattr(group.config, field), None))[0]
                    group.changes[f"{group.prefix}{field}"] = (old, getattr(candidate, field))
                group.pending = candidate
        return SetParametersResult(successful=True)


def change_text(changes: Mapping[str, Tuple[Any, Any]]) -> str:
    """'a: 1 -> 2, b: x -> y' for the log line of an applied change."""
    return ", ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in sorted(changes.items()))


__all__ = ["declare_config_parameters", "parameter_descriptor", "ParameterType", "RuntimeParameters",
           "change_text", "APPLIED", "START_UP_ONLY", "READ_ONLY"]
