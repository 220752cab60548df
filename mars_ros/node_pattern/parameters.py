"""ROS parameters <-> config dataclasses (see mars_core.config_schema)."""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Mapping, Optional, Type, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
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


def parameter_descriptor(f: dataclasses.Field, ptype: Parameter.Type) -> ParameterDescriptor:
    """The ROS descriptor of a config field: description (with its choices), read-only flag, type, and the
    field's range as a FloatingPointRange / IntegerRange (ROS ranges are closed: an exclusive bound is given as
    that bound, and config_field's own check rejects it; an open end is +-inf or the int64 limit)."""
    meta = f.metadata
    description = str(meta.get("description", ""))
    constraints = [range_text(meta)] if range_text(meta) else []
    if meta.get("choices") is not None:
        choices = ", ".join(str(c) for c in meta["choices"])
        description = f"{description} (one of: {choices})"
        constraints.append(f"one of: {choices}")
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
                              defaults: Optional[Mapping[str, Any]] = None, defaults_source: str = "") -> T:
    """Declare one parameter per field of cls (with its description) and return the validated config.

    ``defaults`` (e.g. the `tracker:` section of the robot configuration file) replace the dataclass
    defaults; parameters given to the node (launch, --ros-args, params file) override both.
    Raises ConfigError naming the parameter when a value has the wrong type or is out of range.
    """
    base = config_from_dict(cls, defaults, defaults_source) if defaults else None
    values = {}
    for f, (name, hint) in zip(dataclasses.fields(cls), field_types(cls).items()):
        pname = f"{prefix}{name}"
        ptype = _parameter_type(hint, pname)
        descriptor = parameter_descriptor(f, ptype)
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


__all__ = ["declare_config_parameters", "parameter_descriptor", "ParameterType"]
