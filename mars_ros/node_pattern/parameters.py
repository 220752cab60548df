"""ROS parameters <-> config dataclasses (see mars_core.config_schema)."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, Optional, Type, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from mars_core.config_schema import ConfigError, check_config, config_from_dict, field_types

T = TypeVar("T")

_ARRAY_TYPES = {float: Parameter.Type.DOUBLE_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                str: Parameter.Type.STRING_ARRAY, bool: Parameter.Type.BOOL_ARRAY}
_SCALAR_TYPES = {float: Parameter.Type.DOUBLE, int: Parameter.Type.INTEGER, str: Parameter.Type.STRING,
                 bool: Parameter.Type.BOOL}


def _parameter_type(hint: Any, name: str) -> Parameter.Type:
    if typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return _ARRAY_TYPES[typing.get_args(hint)[0]]
    if hint in _SCALAR_TYPES:
        return _SCALAR_TYPES[hint]
    raise TypeError(f"config field {name}: type {hint!r} cannot be a ROS parameter")


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
        descriptor = ParameterDescriptor(description=f.metadata.get("description", ""),
                                         read_only=bool(f.metadata.get("read_only", False)),
                                         type=ptype.value)
        default = getattr(base, name) if base is not None else f.default
        if default is None or (isinstance(default, tuple) and not default):
            # rclpy cannot infer a type from None or []: declare statically typed, unset.
            node.declare_parameter(pname, ptype, descriptor)
        else:
            default = list(default) if isinstance(default, tuple) else default
            if ptype == Parameter.Type.DOUBLE_ARRAY:
                default = [float(v) for v in default]
            elif ptype == Parameter.Type.DOUBLE:
                default = float(default)
            try:
                node.declare_parameter(pname, default, descriptor)
            except Exception as exc:  # InvalidParameterTypeException from an override of the wrong type
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
    except ConfigError as exc:
        raise ConfigError(f"parameter {prefix}{exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid parameters for {cls.__name__}: {exc}") from None
    return config


__all__ = ["declare_config_parameters", "ParameterType"]
