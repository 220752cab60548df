"""Start real nodes as subprocesses of the venv's python and stop them like `ros2 launch` does (SIGINT)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

REPO_ROOT = Path(__file__).resolve().parents[2]


def ros_args(parameters: Optional[Mapping[str, object]] = None, remappings: Optional[Mapping[str, str]] = None,
             name: Optional[str] = None, namespace: Optional[str] = None,
             params_file: Optional[Union[str, Path]] = None) -> List[str]:
    """The `--ros-args ...` part of a node command line."""
    out = ["--ros-args"]
    if name:
        out += ["-r", f"__node:={name}"]
    if namespace:
        out += ["-r", f"__ns:={namespace if namespace.startswith('/') else '/' + namespace}"]
    for src, dst in (remappings or {}).items():
        out += ["-r", f"{src}:={dst}"]
    if params_file:
        out += ["--params-file", str(params_file)]
    for key, value in (parameters or {}).items():
        out += ["-p", f"{key}:={_param_text(value)}"]
    return out


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_param_text(v) if not isinstance(v, str) else f"'{v}'" for v in value) + "]"
    return str(value)


class NodeProcess:
    """A node running as `python -m module --ros-args ...`; output goes to a log file read on failure."""

    def __init__(self, module: str, args: Sequence[str] = (), env: Optional[Dict[str, str]] = None) -> None:
        self.module = module
        self.log = tempfile.NamedTemporaryFile(prefix=module.replace(".", "_") + "-", suffix=".log", delete=False)
        # sys.executable: the venv's python (the ROS wheels re-exec it with the right library path).
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO_ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env or os.environ.copy())

    def output(self) -> str:
        """Everything the process printed so far."""
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; returns its exit code."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.module} did not exit within {timeout} s; output:\n{self.output()}")

    def interrupt(self, timeout: float = 15.0) -> int:
        """Send SIGINT (as launch does) and return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def kill(self) -> None:
        """Hard stop (cleanup after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    """Poll predicate until true or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
