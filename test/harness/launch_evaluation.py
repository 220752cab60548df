"""Evaluate our Python launch files without ROS `launch` (test only) and start their nodes for real.

`evaluate_launch_file()` runs `generate_launch_description()` against the stand-in modules in
launch_standin/ and returns the nodes it would start, fully resolved (namespace, name, parameters,
remappings). `NodeSpec.start()` runs one as `python -m <module> --ros-args ...` like `ros2 launch` would.
"""
from __future__ import annotations

import configparser
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import yaml

from harness.ros_processes import REPO_ROOT, NodeProcess

STANDIN = Path(__file__).resolve().parent / "launch_standin"


def _use_standin() -> None:
    loaded = sys.modules.get("launch")
    if loaded is not None and not str(getattr(loaded, "__file__", "")).startswith(str(STANDIN)):
        raise RuntimeError(f"a different 'launch' module is imported ({loaded!r}); the stand-in cannot be used")
    if str(STANDIN) not in sys.path:
        sys.path.insert(0, str(STANDIN))


def node_executables() -> Dict[str, str]:
    """ROS executable name -> 'module:function' from setup.cfg (the one list: mars.ros_nodes, console_scripts)."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / "setup.cfg")
    out = {}
    for group in ("mars.ros_nodes", "console_scripts"):
        for line in cfg["options.entry_points"].get(group, "").strip().splitlines():
            if "=" in line:
                name, target = (part.strip() for part in line.split("=", 1))
                out[name] = target
    return out


@dataclass
class NodeSpec:
    """A node as a launch file would start it."""

    package: str
    executable: str
    name: Optional[str]
    namespace: str
    parameters: List[Union[Dict[str, Any], str]] = field(default_factory=list)
    remappings: List[Tuple[str, str]] = field(default_factory=list)
    arguments: List[str] = field(default_factory=list)

    @property
    def fully_qualified_name(self) -> str:
        ns = self.namespace.rstrip("/")
        return f"{ns}/{self.name}" if self.name else f"{ns}/{self.executable}"

    def effective_parameters(self) -> Dict[str, Any]:
        """Parameter values after files (/** and the node's own section) and dicts are applied in order."""
        out: Dict[str, Any] = {}
        for entry in self.parameters:
            if isinstance(entry, dict):
                out.update(entry)
                continue
            data = yaml.safe_load(Path(entry).read_text()) or {}
            for key, section in data.items():
                if key in ("/**", self.fully_qualified_name, self.fully_qualified_name.lstrip("/"), self.name):
                    out.update((section or {}).get("ros__parameters", {}))
        return out

    def module(self) -> str:
        """The Python module that implements the executable."""
        scripts = node_executables()
        if self.executable not in scripts:
            raise LookupError(f"executable '{self.executable}' is not a node executable in setup.cfg")
        return scripts[self.executable].split(":")[0]

    def ros_arguments(self) -> List[str]:
        """The node's command line after the module: arguments, then --ros-args as launch_ros builds it."""
        out = list(self.arguments) + ["--ros-args"]
        if self.name:
            out += ["-r", f"__node:={self.name}"]
        if self.namespace and self.namespace != "/":
            out += ["-r", f"__ns:={self.namespace}"]
        for entry in self.parameters:
            if isinstance(entry, dict):
                for key, value in entry.items():
                    out += ["-p", f"{key}:={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"]
            else:
                out += ["--params-file", entry]
        for src, dst in self.remappings:
            out += ["-r", f"{src}:={dst}"]
        return out

    def start(self) -> NodeProcess:
        """Start the node for real."""
        return NodeProcess(self.module(), self.ros_arguments())


@dataclass
class LaunchResult:
    """What a launch file declares and starts."""

    arguments: Dict[str, Any]
    nodes: List[NodeSpec]
    other_actions: List[Any]

    def node(self, name: str) -> NodeSpec:
        """The node with this name (or fully qualified name)."""
        found = [n for n in self.nodes if name in (n.name, n.fully_qualified_name)]
        if len(found) != 1:
            raise LookupError(f"expected one node '{name}', found {[n.fully_qualified_name for n in self.nodes]}")
        return found[0]


def _load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate_launch_file(path: Union[str, Path], arguments: Optional[Mapping[str, str]] = None) -> LaunchResult:
    """Evaluate a launch file with the given launch arguments (as `ros2 launch pkg file k:=v` would)."""
    _use_standin()
    from launch import LaunchContext, LaunchDescription, perform
    from launch.actions import (DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction,
                                SetLaunchConfiguration)
    from launch_ros.actions import Node, PushRosNamespace

    result = LaunchResult({}, [], [])

    def walk(entities: List[Any], context: LaunchContext, namespace: str) -> str:
        for entity in entities:
            if isinstance(entity, LaunchDescription):
                namespace = walk(entity.entities, context, namespace)
                continue
            if not entity.enabled(context):
                continue
            if isinstance(entity, DeclareLaunchArgument):
                result.arguments[entity.name] = entity
                if entity.name not in context.launch_configurations:
                    if entity.default_value is None:
                        raise ValueError(f"launch argument '{entity.name}' is required ({entity.description})")
                    context.launch_configurations[entity.name] = perform(entity.default_value, context)
                value = context.launch_configurations[entity.name]
                if entity.choices is not None and value not in entity.choices:
                    raise ValueError(f"launch argument '{entity.name}'='{value}' not in {list(entity.choices)}")
            elif isinstance(entity, SetLaunchConfiguration):
                context.launch_configurations[perform(entity.name, context)] = perform(entity.value, context)
            elif isinstance(entity, OpaqueFunction):
                namespace = walk(entity.execute(context), context, namespace)
            elif isinstance(entity, GroupAction):
                inner = LaunchContext(context.launch_configurations) if entity.scoped else context
                for key, value in entity.launch_configurations.items():
                    inner.launch_configurations[perform(key, inner)] = perform(value, inner)
                pushed = walk(entity.actions, inner, namespace)
                if not entity.scoped:
                    namespace = pushed
            elif isinstance(entity, IncludeLaunchDescription):
                inner = LaunchContext(context.launch_configurations)
                for key, value in entity.launch_arguments:
                    inner.launch_configurations[perform(key, context)] = perform(value, context)
                included = _load_module(Path(perform(entity.source.launch_file_path, context)))
                walk([included.generate_launch_description()], inner, namespace)
            elif isinstance(entity, PushRosNamespace):
                pushed = perform(entity.namespace, context).strip("/")
                namespace = f"{namespace.rstrip('/')}/{pushed}" if pushed else namespace
            elif isinstance(entity, Node):
                own = perform(entity.namespace, context) if entity.namespace is not None else ""
                if own.startswith("/"):
                    full_ns = own
                else:
                    full_ns = "/".join(p for p in (namespace.strip("/"), own.strip("/")) if p)
                    full_ns = "/" + full_ns
                params: List[Union[Dict[str, Any], str]] = []
                for entry in entity.parameters:
                    if isinstance(entry, dict):
                        params.append({perform(k, context): _resolve_value(v, context) for k, v in entry.items()})
                    else:
                        params.append(str(perform(entry, context)))
                result.nodes.append(NodeSpec(
                    package=perform(entity.package, context), executable=perform(entity.executable, context),
                    name=perform(entity.name, context) if entity.name is not None else None, namespace=full_ns,
                    parameters=params,
                    remappings=[(perform(a, context), perform(b, context)) for a, b in entity.remappings],
                    arguments=[str(perform(a, context)) for a in entity.arguments]))
            else:
                result.other_actions.append(entity)
        return namespace

    module = _load_module(Path(path))
    walk([module.generate_launch_description()], LaunchContext(dict(arguments or {})), "")
    return result


def _resolve_value(value: Any, context: Any) -> Any:
    from launch import perform

    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float, bool)) for v in value):
        return list(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    resolved = perform(value, context)
    if isinstance(resolved, str) and not isinstance(value, str):
        # A substitution yields text; launch_ros parses it as YAML into a typed parameter value.
        return yaml.safe_load(resolved) if resolved != "" else ""
    return resolved


def fake_ament_prefix(root: Union[str, Path], *packages: str) -> str:
    """An ament prefix under root that has these packages in its index (what launch files check before starting
    e.g. rviz2 or `ros2 bag play`); set it as AMENT_PREFIX_PATH."""
    index = Path(root) / "ament" / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    for package in packages:
        (index / package).write_text("")
    return str(Path(root) / "ament")
