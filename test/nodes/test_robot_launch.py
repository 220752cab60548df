"""robot.launch.py and jetson.launch.py: evaluated and checked, and their nodes started for real."""
from __future__ import annotations

import math

import pytest
import yaml

from harness.launch_evaluation import evaluate_launch_file, fake_ament_prefix
from harness.ros_processes import REPO_ROOT, wait_until
from mars_core.rig import load_rig

pytestmark = pytest.mark.ros

LAUNCH_DIR = REPO_ROOT / "launch"
RIG = REPO_ROOT / "config" / "mars_rig.yaml"


def _transform_args(node):
    a = node.arguments
    value = {a[i].lstrip("-"): a[i + 1] for i in range(0, len(a), 2)}
    return value["frame-id"], value["child-frame-id"], [float(value[k]) for k in ("x", "y", "z", "roll", "pitch",
                                                                                    "yaw")]


def test_robot_launch_brings_up_every_camera_transforms_and_jetson_nodes(tmp_path, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", fake_ament_prefix(tmp_path, "rviz2"))
    result = evaluate_launch_file(LAUNCH_DIR / "robot.launch.py", {"robot_config": str(RIG)})
    rig = load_rig(RIG)
    cameras = [n for n in result.nodes if n.executable == "camera_node"]
    assert sorted(n.namespace for n in cameras) == sorted(f"/{c}" for c in rig.camera_names)
    for node in cameras:
        params = node.effective_parameters()
        assert params["camera_name"] == node.namespace.strip("/") and params["robot_config"] == str(RIG)
    tfs = {(p, c): v for p, c, v in (_transform_args(n) for n in result.nodes
                                      if n.executable == "static_transform_publisher")}
    for cam in rig.cameras:
        xyz_rpy = tfs[("base_link", f"{cam.name}_link")]
        assert xyz_rpy == pytest.approx(list(cam.model.extrinsics.xyz) + list(cam.model.extrinsics.rpy))
        assert tfs[(f"{cam.name}_link", f"{cam.name}_optical_frame")] == pytest.approx(
            [0, 0, 0, -math.pi / 2, 0, -math.pi / 2])
    assert tfs[("base_link", "gnss_link")][:3] == pytest.approx(list(rig.gnss_antenna_xyz))
    assert {n.name for n in result.nodes if n.executable in ("tracker_node", "fusion_node")} == {"tracker", "fusion"}
    assert not [n for n in result.nodes if n.executable == "rviz2"]  # rviz off by default
    jetson_only = evaluate_launch_file(LAUNCH_DIR / "robot.launch.py", {"cameras": "false", "rviz": "true"})
    assert not [n for n in jetson_only.nodes if n.executable == "camera_node"]
    assert [n.name for n in jetson_only.nodes if n.executable == "rviz2"] == ["rviz"]


def test_robot_launch_rejects_a_bad_config_naming_the_key(tmp_path):
    data = yaml.safe_load(RIG.read_text())
    del data["rig"]["cameras"][1]["extrinsics"]
    bad = tmp_path / "robot.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"cameras\[1\]\.extrinsics"):
        evaluate_launch_file(LAUNCH_DIR / "robot.launch.py", {"robot_config": str(bad)})


@pytest.mark.slow
def test_jetson_launch_nodes_start_and_stop_cleanly(probe):
    from mars_counting.msg import FlowerCount

    result = evaluate_launch_file(LAUNCH_DIR / "jetson.launch.py", {"robot_config": str(RIG)})
    assert {n.name for n in result.nodes} == {"tracker", "fusion"}
    probe.watch("/mars/track_counts", FlowerCount)
    tracker, fusion = result.node("tracker").start(), result.node("fusion").start()
    with tracker, fusion:
        counts = probe.wait_for("/mars/track_counts", 1, timeout=20)
        assert {c.name for c in counts[-1].per_camera} == set(load_rig(RIG).camera_names)
        for topic in ("/cam_left/detections", "/gnss/fix", "/cam_right/tracks"):  # discovery takes a moment
            wait_until(lambda t=topic: probe.node.count_subscribers(t) >= 1, 20, what=f"a subscriber on {topic}")
        assert tracker.interrupt() == 0, tracker.output()
        assert fusion.interrupt() == 0, fusion.output()


def test_shipped_robot_config_sections_are_valid():
    from mars_pipeline.bag_counting import pipeline_configs

    from mars_core.config_schema import config_from_dict
    from mars_camera.detector_config import CameraDetectorConfig
    from mars_core.rig import load_robot_config

    configs = pipeline_configs(RIG)
    assert configs["tracker"].min_hits == 3 and configs["fusion"].canopy_height_m == 0.75
    camera = config_from_dict(CameraDetectorConfig, load_robot_config(RIG)["camera"], "camera")
    assert camera.feature_encoding == "uint8" and camera.backend == "auto"


def test_rviz_config_shows_the_topics_the_nodes_publish():
    from mars_ros.nodes.fusion_node import FusionNodeConfig
    from mars_ros.nodes.tracker_node import TrackerNodeConfig

    rviz = yaml.safe_load((REPO_ROOT / "rviz" / "mars_counting.rviz").read_text())
    manager = rviz["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "map"
    topics = {d["Topic"]["Value"] for d in manager["Displays"] if "Topic" in d}
    assert {f"/{FusionNodeConfig().markers_topic}", f"/{TrackerNodeConfig().markers_topic}"} <= topics  # root namespace
    latched = [d for d in manager["Displays"] if d.get("Topic", {}).get("Value") == f"/{FusionNodeConfig().markers_topic}"]
    assert latched[0]["Topic"]["Durability Policy"] == "Transient Local"   # the fusion's map is latched
    assert {f"/{c}/debug_image" for c in load_rig(RIG).camera_names} <= topics
