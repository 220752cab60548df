"""The layering of docs/ARCHITECTURE.md ("Dependencies point one way"), checked two ways:

- statically: every import statement of every module (imports inside functions count: they are
  dependencies too), read with ast;
- at run time: a fresh interpreter imports every module of a package, then sys.modules is checked (this also
  catches what a package pulls in through the packages it may import).

    mars_core  <-  mars_camera  <-  mars_tracker  <-  mars_fusion  <-  mars_sim, mars_pipeline
    mars_ros.bags, mars_ros.messages: ROS-free glue (rosbags, duck-typed messages), import only mars_core
    mars_ros.node_pattern, mars_ros.nodes: rclpy; may import anything, imported by nothing outside mars_ros
    mars_hailo: the compile toolchain; imports mars_core, mars_ros.bags, mars_camera; imported by no algorithm package
"""
from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]

# rclpy and the packages that only exist with it: never imported by the ROS-free code, not even lazily.
RCLPY_ONLY = frozenset({"rclpy", "rcl_interfaces", "launch", "launch_ros", "rosidl_runtime_py", "rosidl_parser",
                        "rosidl_generator_py", "rpyutils"})
# Generated ROS message packages (need rosidl's typesupport): allowed only inside functions of
# mars_ros.messages, which build rclpy messages for the nodes.
GENERATED_MESSAGES = frozenset({"mars_counting", "builtin_interfaces", "std_msgs", "sensor_msgs", "geometry_msgs",
                                "nav_msgs", "visualization_msgs", "diagnostic_msgs", "tf2_msgs", "rosgraph_msgs"})

GLUE = frozenset({"mars_ros", "mars_ros.bags", "mars_ros.messages"})  # mars_ros: the package's own __init__
# The mars_* units (a top-level package, or one of mars_ros's sub-packages) each may import.
ALLOWED: Dict[str, FrozenSet[str]] = {
    "mars_core": frozenset(),
    "mars_ros": frozenset(),  # mars_ros/__init__.py
    "mars_ros.bags": frozenset({"mars_core"}) | GLUE,
    "mars_ros.messages": frozenset({"mars_core"}) | GLUE,
    "mars_camera": frozenset({"mars_core"}) | GLUE,
    "mars_tracker": frozenset({"mars_core", "mars_camera"}) | GLUE,
    "mars_fusion": frozenset({"mars_core", "mars_camera", "mars_tracker"}) | GLUE,
    "mars_sim": frozenset({"mars_core", "mars_camera", "mars_tracker", "mars_fusion"}) | GLUE,
    "mars_pipeline": frozenset({"mars_core", "mars_camera", "mars_tracker", "mars_fusion"}) | GLUE,
    "mars_hailo": frozenset({"mars_core", "mars_camera", "mars_ros", "mars_ros.bags"}),
}
# Narrow, named exceptions to ALLOWED (module -> units it may import besides its unit's).
EXCEPTIONS: Dict[str, FrozenSet[str]] = {
    # `make demo` is the whole story on simulated data: simulate a run (mars_sim), count it with the pipeline,
    # score the count against the simulator's truth (mars_sim.evaluation). mars_sim never imports mars_pipeline.
    "mars_pipeline.demo": frozenset({"mars_sim"}),
}
ROS_FREE = ("mars_core", "mars_camera", "mars_tracker", "mars_fusion", "mars_sim", "mars_pipeline", "mars_hailo",
            "mars_ros.bags", "mars_ros.messages")
ALGORITHM_PACKAGES = ("mars_core", "mars_camera", "mars_tracker", "mars_fusion", "mars_sim", "mars_pipeline")
OUR_PACKAGES = ("mars_core", "mars_camera", "mars_tracker", "mars_fusion", "mars_sim", "mars_pipeline", "mars_hailo",
                "mars_ros")


def _unit(module: str) -> str:
    """The layering unit of a module name: its top-level package, or mars_ros.<sub-package>."""
    parts = module.split(".")
    if parts[0] == "mars_ros" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def _is_ours(module: str) -> bool:
    return module.split(".")[0] in OUR_PACKAGES


def _modules(package: str) -> List[Tuple[str, Path]]:
    """(dotted name, file) of every module of a package or sub-package."""
    base = ROOT.joinpath(*package.split("."))
    out = []
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> Iterator[Tuple[str, int, bool]]:
    """(imported module, line, at module level) of every import statement; relative imports resolved."""
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool) -> Iterator[Tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, not in_function
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    package = package[:len(package) - (child.level - 1)]
                    target = ".".join(package + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                yield target, child.lineno, not in_function
                for alias in child.names:  # `from mars_ros import nodes` imports the unit mars_ros.nodes
                    if _unit(f"{target}.{alias.name}") != _unit(target):
                        yield f"{target}.{alias.name}", child.lineno, not in_function
            yield from visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                       ast.Lambda)))

    yield from visit(ast.parse(path.read_text(), str(path)), False)


def _static_violations(package: str) -> List[str]:
    problems = []
    for module, path in _modules(package):
        where = path.relative_to(ROOT)
        unit = _unit(module)
        for target, line, module_level in _imports(module, path):
            top = target.split(".")[0]
            if package in ROS_FREE and top in RCLPY_ONLY:
                problems.append(f"{where}:{line}: imports {target} (rclpy-only) in ROS-free {package}")
            if package in ROS_FREE and top in GENERATED_MESSAGES and (module_level or package != "mars_ros.messages"):
                problems.append(f"{where}:{line}: imports generated ROS messages {target}"
                                f"{' at module level' if module_level else ''} in ROS-free {package}")
            if not _is_ours(target) or _unit(target) == unit:
                continue
            if unit in ALLOWED and _unit(target) not in ALLOWED[unit] | EXCEPTIONS.get(module, frozenset()):
                problems.append(f"{where}:{line}: {unit} must not import {target}")
    return problems


@pytest.mark.parametrize("package", ROS_FREE)
def test_static_imports_follow_the_layering(package: str) -> None:
    problems = _static_violations(package)
    assert not problems, "\n".join(problems)


def test_nothing_outside_mars_ros_imports_the_nodes_or_the_node_pattern() -> None:
    """Only mars_ros (and tests, benchmarks, launch files, which are not packages) import the rclpy layer."""
    problems = []
    for package in OUR_PACKAGES:
        for module, path in _modules(package):
            if module.startswith("mars_ros"):
                continue
            for target, line, _ in _imports(module, path):
                if _unit(target) in ("mars_ros.node_pattern", "mars_ros.nodes"):
                    problems.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not problems, "\n".join(problems)


def test_the_exceptions_are_still_needed() -> None:
    """Each exception names an import that exists (a stale exception would silently widen the rule)."""
    for module, extra in EXCEPTIONS.items():
        path = dict(_modules(module.split(".")[0]))[module]
        imported = {_unit(t) for t, _, _ in _imports(module, path) if _is_ours(t)}
        assert extra <= imported, f"{module}: exception {sorted(extra - imported)} no longer used"


def test_the_packages_are_all_covered() -> None:
    """Every top-level package of setup.cfg is one of the layers above."""
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["mars"]["python_packages"].split())
    assert listed == set(OUR_PACKAGES)
    units = {_unit(m) for p in OUR_PACKAGES for m, _ in _modules(p)}
    assert units <= set(ALLOWED) | {"mars_ros.node_pattern", "mars_ros.nodes"}


_PROBE = r"""
import importlib, json, sys
names = json.loads(sys.argv[1])
before = set(sys.modules)
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _reachable(unit: str) -> FrozenSet[str]:
    """The units a unit may load, directly or through the units it imports."""
    seen: Set[str] = {unit}
    todo = [unit]
    while todo:
        for other in ALLOWED.get(todo.pop(), frozenset()) | {_unit(p) for m, extra in EXCEPTIONS.items()
                                                             if _unit(m) == unit for p in extra}:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return frozenset(seen)


@functools.lru_cache(maxsize=None)
def _loaded_by_importing(package: str) -> FrozenSet[str]:
    """Modules a fresh interpreter has loaded after importing every module of package."""
    names = [m for m, _ in _modules(package)]
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(names)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return frozenset(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("package", ROS_FREE)
def test_importing_a_ros_free_package_loads_no_ros(package: str) -> None:
    loaded = _loaded_by_importing(package)
    ros = sorted(m for m in loaded if m.split(".")[0] in RCLPY_ONLY | GENERATED_MESSAGES)
    assert ros == [], f"importing {package} loads {ros}"
    ours = sorted(m for m in loaded if _is_ours(m) and _unit(m) not in _reachable(package))
    assert ours == [], f"importing {package} loads {ours}"


def test_mars_core_loads_no_opencv_and_nothing_of_ours_at_import() -> None:
    loaded = _loaded_by_importing("mars_core")
    assert "cv2" not in loaded, "importing mars_core loads OpenCV (only the distortion step may, lazily)"
    ours = sorted(m for m in loaded if _is_ours(m) and _unit(m) != "mars_core")
    assert ours == [], f"importing mars_core loads {ours}"


def test_no_algorithm_package_loads_mars_hailo() -> None:
    for package in ALGORITHM_PACKAGES:
        assert not any(_unit(m) == "mars_hailo" for m in _loaded_by_importing(package)), package
