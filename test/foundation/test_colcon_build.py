"""The same CMakeLists builds unchanged with colcon (as on a ROS 2 install), here against the venv's wheels."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ros_processes import REPO_ROOT

pytestmark = [pytest.mark.ros, pytest.mark.slow]

VENV = Path(sys.executable).resolve().parent.parent if (Path(sys.executable).parent / "colcon").exists() \
    else Path(sys.prefix)


def _package_sources() -> list:
    """Files a clone would have: tracked plus untracked-but-not-ignored."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    return [f for f in out if f and (REPO_ROOT / f).is_file()]


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    colcon = Path(sys.prefix) / "bin" / "colcon"
    if not colcon.exists():
        pytest.fail(f"colcon is not installed in the venv ({colcon}); `make setup` installs it")
    ws = tmp_path_factory.mktemp("colcon_ws")
    src = ws / "src" / "mars_counting"  # outside the repo: a workspace as on a robot
    for rel in _package_sources():
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, dst)
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix, CMAKE_PREFIX_PATH=sys.prefix,
               PATH=f"{Path(sys.prefix) / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.run([str(colcon), "build", "--base-paths", "src", "--build-base", "build", "--install-base",
                           "install", "--event-handlers", "console_direct+", "--cmake-args", "-DBUILD_TESTING=OFF",
                           f"-DPython3_EXECUTABLE={sys.executable}"],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"colcon build failed:\n{log[-6000:]}"
    return ws / "install" / "mars_counting"


def test_installed_layout(colcon_install):
    prefix = colcon_install
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for pkg in ("mars_camera", "mars_tracker", "mars_fusion", "mars_sim", "mars_counting"):
        assert (site / pkg / "__init__.py").is_file(), f"{pkg} not installed under {site}"
    for sub in ("launch", "config", "models", "rviz", "msg"):
        assert (prefix / "share" / "mars_counting" / sub).is_dir(), f"share/mars_counting/{sub} missing"
    assert (prefix / "share" / "mars_counting" / "launch" / "bag_replay.launch.py").is_file()
    assert (prefix / "share" / "mars_counting" / "config" / "mars_rig.yaml").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "mars_counting").is_file()
    executables = prefix / "lib" / "mars_counting"
    for name in ("bag_replay_node", "detection_recorder_node"):
        assert os.access(executables / name, os.X_OK), f"lib/mars_counting/{name} missing or not executable"


def test_installed_interfaces_and_executables_run(colcon_install, tmp_path):
    prefix = colcon_install
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    env = dict(os.environ, PYTHONPATH=str(site), LD_LIBRARY_PATH=f"{prefix / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
               AMENT_PREFIX_PATH=f"{prefix}:{sys.prefix}")
    probe = ("import mars_counting.msg as m, mars_camera; "
             "from rclpy.serialization import serialize_message as s; "
             "print(m.__file__); print(mars_camera.__file__); print(len(s(m.FlowerDetectionArray())))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0].startswith(str(site)) and lines[1].startswith(str(site)), out.stdout
    # The installed wrapper runs the node: a missing bag is reported by name, non-zero exit.
    run = subprocess.run([str(prefix / "lib" / "mars_counting" / "bag_replay_node"), "--ros-args", "-p",
                          f"bag_path:={tmp_path / 'missing_bag'}"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "missing_bag" in run.stdout + run.stderr
