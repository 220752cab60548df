"""The launch arguments of our launch files, one table per file: argument -> the declared parameter (or the
namespace, params file, started node) it reaches on which nodes.

Every launch file declares its arguments from its table (``ARGUMENTS``) and builds its nodes' parameters from it,
so an argument cannot silently miss its node; test/foundation/test_launch_arguments.py reads the tables and
launches every argument with a non-default value. ROS-free on purpose: the test stand-in and the real ROS 2
`launch` both import it.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

TRUE_TEXTS = ("true", "1", "yes", "on")
FALSE_TEXTS = ("false", "0", "no", "off")

# What an argument sets when it is not a parameter.
NAMESPACE = "namespace"        # the nodes' namespace (a prefix; a camera node adds its camera's name)
PARAMS_FILE = "params_file"    # a ROS parameters file given to the nodes
STARTS = "starts"              # whether the nodes are started (a boolean) or which player runs (a choice)
LAUNCH = "launch"              # how the launch file itself behaves (e.g. shut down when the replay ends)


def launch_bool(text: str, argument: str) -> bool:
    """A boolean launch argument, case-insensitive: true/1/yes/on or false/0/no/off; ValueError naming it."""
    value = str(text).strip().lower()
    if value in TRUE_TEXTS:
        return True
    if value in FALSE_TEXTS:
        return False
    raise ValueError(f"launch argument {argument}:={text!r} is not a boolean: use true or false (any case; "
                     f"also {'/'.join(TRUE_TEXTS[1:])} or {'/'.join(FALSE_TEXTS[1:])})")


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: its declaration and what it reaches."""

    name: str
    description: str
    default: Optional[str] = ""            # None: required
    nodes: Tuple[str, ...] = ()            # names of the nodes it reaches (fnmatch patterns, e.g. "tf_*")
    parameter: str = ""                    # the declared parameter it sets on them, or "" (then `target`)
    target: str = ""                       # NAMESPACE, PARAMS_FILE, STARTS or LAUNCH when not a parameter
    kind: str = "str"                      # str, bool, float, int, list (comma-separated strings), or
    #                                        optional: a str where "none" (any case) means "" (off): `ros2 launch`
    #                                        refuses an empty value on its command line (`name:=`)
    choices: Tuple[str, ...] = ()          # allowed values (exact); bools accept any case instead
    empty_is_unset: bool = True            # str: "" leaves the node's own default (robot configuration)

    def parse(self, text: str) -> Any:
        """The typed value of the argument's text; ValueError naming the argument when it does not fit."""
        if self.kind == "bool":
            return launch_bool(text, self.name)
        if self.choices and text not in self.choices:
            raise ValueError(f"launch argument {self.name}:={text!r} is not one of {list(self.choices)}")
        try:
            if self.kind == "float":
                return float(text)
            if self.kind == "int":
                return int(text)
        except ValueError:
            raise ValueError(f"launch argument {self.name}:={text!r} must be {'a number' if self.kind == 'float' else 'an integer'}") from None
        if self.kind == "list":
            return [item.strip() for item in text.split(",") if item.strip()]
        if self.kind == "optional":
            return "" if text.strip().lower() == "none" else text
        return text

    def reaches(self, node_name: str) -> bool:
        """True when the argument reaches the node called node_name."""
        return any(fnmatch.fnmatchcase(node_name, pattern) for pattern in self.nodes)


def declared_arguments(table: Sequence[LaunchArgument], declare: Callable[..., Any]) -> List[Any]:
    """DeclareLaunchArgument actions for the table (declare is launch.actions.DeclareLaunchArgument)."""
    out = []
    for argument in table:
        kwargs: Dict[str, Any] = {"description": argument.description}
        if argument.default is not None:
            kwargs["default_value"] = argument.default
        if argument.choices:
            kwargs["choices"] = list(argument.choices)
        out.append(declare(argument.name, **kwargs))
    return out


def argument_values(table: Sequence[LaunchArgument], text_of: Callable[[str], str]) -> Dict[str, Any]:
    """Every argument's typed value; text_of(name) is the launch configuration's text."""
    return {argument.name: argument.parse(text_of(argument.name)) for argument in table}


def node_parameters(table: Sequence[LaunchArgument], values: Mapping[str, Any], node_name: str) -> Dict[str, Any]:
    """The parameters the table's arguments set on node_name (empty strings left out where they mean unset)."""
    out = {}
    for argument in table:
        if not argument.parameter or not argument.reaches(node_name):
            continue
        value = values[argument.name]
        if argument.kind in ("str", "optional") and value == "" and argument.empty_is_unset:
            continue
        out[argument.parameter] = value
    return out


def params_files(table: Sequence[LaunchArgument], values: Mapping[str, Any], node_name: str) -> List[str]:
    """The parameters files the table's arguments give node_name."""
    return [values[a.name] for a in table if a.target == PARAMS_FILE and a.reaches(node_name) and values[a.name]]


def ros_package_installed(package: str) -> bool:
    """True when an ament prefix (AMENT_PREFIX_PATH) has the package: what launch_ros needs to start its
    executables; checked before launching anything, so a missing one is said up front."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix and os.path.isfile(os.path.join(prefix, "share", "ament_index", "resource_index", "packages",
                                                  package)):
            return True
    return False


def require_ros_package(package: str, argument: str) -> None:
    """RuntimeError saying that argument needs package, which is not installed."""
    if not ros_package_installed(package):
        raise RuntimeError(f"{argument} needs the ROS package '{package}', which is not installed (not in "
                           f"AMENT_PREFIX_PATH): install it (e.g. apt install ros-$ROS_DISTRO-{package.replace('_', '-')}) "
                           f"or launch without {argument}")


def join_namespace(*parts: str) -> str:
    """'/a/b' from ('a', '/b/'); '/' when all are empty."""
    inner = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return "/" + inner
