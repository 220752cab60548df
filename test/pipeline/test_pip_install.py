"""`pip install .` gives a ROS-free library: mars-count runs from the installed wheel with rclpy unavailable,
finding its message definitions, default robot configuration and models as package data."""
from __future__ import annotations

import subprocess
import sys

import pytest

from harness.ros_processes import REPO_ROOT

pytestmark = pytest.mark.slow

PROGRAM = """
import sys
sys.modules['rclpy'] = None          # no ROS: any import of rclpy fails
sys.modules['mars_counting'] = None  # nor the generated messages
sys.path.insert(0, {target!r})
import mars_camera, mars_pipeline
assert mars_camera.__file__.startswith({target!r}), mars_camera.__file__
from mars_core.package_files import default_robot_config, share_file
assert str(default_robot_config()).startswith({target!r})
assert str(share_file('models/detector/flower_yolov8n.onnx')).startswith({target!r})
from mars_ros.bags.typestore import message_definitions
assert len(message_definitions()) == {n_messages}
from mars_pipeline.count_cli import main
sys.exit(main([{bag!r}, '--out', {out!r}, '--no-progress']))
"""


def test_installed_wheel_counts_a_bag_without_ros(quick_run_mcap, tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(REPO_ROOT)], check=True, capture_output=True, timeout=300)
    target = tmp_path / "site"
    wheel = next(wheels.glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    out = tmp_path / "result"
    code = PROGRAM.format(target=str(target), bag=str(quick_run_mcap / "bag"), out=str(out),
                          n_messages=len(list((REPO_ROOT / "msg").glob("*.msg"))))  # every interface
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "flowers in the map" in run.stdout
    assert (out / "flowers.csv").is_file() and (out / "summary.json").is_file()
    assert (target / "bin" / "mars-count").is_file()
