"""Every launch argument of every launch file reaches a parameter the node declares (stand-in evaluation).

Each launch file's ARGUMENTS table says what each argument sets on which node; these tests launch every argument
with a non-default value and check the node gets it, and that every parameter a launch file passes is one its
node declares (rclpy drops undeclared overrides silently: that was issue 16's defect 1). What the running nodes
do with them is checked in test/nodes/test_launch_arguments_used.py.
"""
from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from harness.launch_evaluation import _load_module, _use_standin, evaluate_launch_file, fake_ament_prefix
from harness.ros_processes import REPO_ROOT

pytestmark = pytest.mark.ros

LAUNCH_DIR = REPO_ROOT / "launch"
RIG = REPO_ROOT / "config" / "mars_rig.yaml"
LAUNCH_FILES = ("camera.launch.py", "jetson.launch.py", "robot.launch.py", "replay.launch.py",
                "bag_replay.launch.py")
# Arguments every evaluation of a file needs (required ones), and for each argument a value that is not its default.
REQUIRED = {"camera.launch.py": {"camera": "cam_left"}, "replay.launch.py": {"bag": "/data/run1/bag", "player": "mars"},
            "bag_replay.launch.py": {"bag": "/data/run1/bag"}}
# Arguments that only matter together with another one (the recorder starts only with record_to).
NEEDS = {("bag_replay.launch.py", "topics"): "record_to", ("bag_replay.launch.py", "storage"): "record_to"}


def _samples(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters: {}\n")
    rig = tmp_path / "robot.yaml"
    rig.write_text(RIG.read_text())
    common = {"robot_config": str(rig), "namespace": "robot2", "params_file": str(params), "use_sim_time": "True",
              "rviz": "TRUE", "map_file": "/data/map.npz", "export_dir": "/data/export", "fix_topic": "/ublox/fix",
              "imu_topic": "None", "finalize_after_idle_s": "3.5"}
    return {
        "camera.launch.py": {**{k: common[k] for k in ("robot_config", "namespace", "params_file", "use_sim_time")},
                             "camera": "cam_right", "backend": "onnx", "model_path": "/models/flower.onnx",
                             "hef_path": "/models/flower.hef", "source": "opencv", "source_uri": "/dev/video2",
                             "source_topic": "/cam/image", "image_topic": "image_raw", "detections_topic": "dets",
                             "autostart": "False"},
        "jetson.launch.py": {**{k: common[k] for k in ("robot_config", "namespace", "params_file", "use_sim_time",
                                                        "rviz", "map_file", "export_dir", "finalize_after_idle_s",
                                                        "fix_topic", "imu_topic")},
                             "odometry_topic": "odom"},
        "robot.launch.py": {**{k: common[k] for k in ("robot_config", "namespace", "params_file", "use_sim_time",
                                                       "rviz", "map_file", "export_dir", "fix_topic", "imu_topic")},
                            "cameras": "false"},
        "replay.launch.py": {**{k: common[k] for k in ("robot_config", "params_file", "rviz", "export_dir",
                                                        "finalize_after_idle_s", "fix_topic", "imu_topic")},
                             "bag": "/data/other/bag", "rate": "2.5", "player": "mars", "wait_for_subscribers": "3",
                             "shutdown_when_done": "No"},
        "bag_replay.launch.py": {"bag": "/data/other/bag", "rate": "2.5", "loop": "Yes", "wait_for_subscribers": "2",
                                 "publish_clock": "ON", "use_sim_time": "1", "record_to": str(tmp_path / "copy"),
                                 "topics": "/a/detections,/b/detections", "storage": "sqlite3"},
    }


@pytest.fixture
def fake_rviz2(tmp_path, monkeypatch):
    """An ament prefix that has rviz2 (the check launch files make before starting it)."""
    prefix = fake_ament_prefix(tmp_path, "rviz2")
    monkeypatch.setenv("AMENT_PREFIX_PATH", prefix)
    return prefix


def _table(name):
    _use_standin()
    return _load_module(LAUNCH_DIR / name).ARGUMENTS


def _declared_parameters(executable):
    """The parameter names a node executable declares (its config classes; plus what rclpy declares)."""
    from mars_camera.detector_config import CameraDetectorConfig
    from mars_camera.frame_sources import FrameSourceConfig
    from mars_fusion.config import FusionConfig
    from mars_ros.nodes.bag_replay import BagReplayConfig
    from mars_ros.nodes.camera_node import CameraNodeConfig
    from mars_ros.nodes.detection_recorder import DetectionRecorderConfig
    from mars_ros.nodes.fusion_node import FusionNodeConfig
    from mars_ros.nodes.subscriber_gate import SubscriberGateConfig
    from mars_ros.nodes.tracker_node import TrackerNodeConfig
    from mars_tracker.config import TrackerConfig

    groups = {"camera_node": [("", CameraNodeConfig), ("detector.", CameraDetectorConfig),
                              ("source.", FrameSourceConfig)],
              "tracker_node": [("", TrackerNodeConfig), ("tracker.", TrackerConfig)],
              "fusion_node": [("", FusionNodeConfig), ("fusion.", FusionConfig)],
              "bag_replay_node": [("", BagReplayConfig)], "detection_recorder_node": [("", DetectionRecorderConfig)],
              "subscriber_gate_node": [("", SubscriberGateConfig)],
              "static_transform_publisher": [], "rviz2": []}[executable]
    return {"use_sim_time"} | {f"{prefix}{f.name}" for prefix, cls in groups for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("launch_file", LAUNCH_FILES)
def test_every_argument_is_in_the_table_and_has_a_sample(launch_file, tmp_path, fake_rviz2):
    table = _table(launch_file)
    entities = _load_module(LAUNCH_DIR / launch_file).generate_launch_description().entities
    declared = [e.name for e in entities if type(e).__name__ == "DeclareLaunchArgument"]  # this file's own
    assert set(declared) == {a.name for a in table} and len(declared) == len(table)
    assert set(_samples(tmp_path)[launch_file]) == set(declared), "a sample value per argument"
    for argument in table:
        assert argument.nodes and (argument.parameter or argument.target), argument
        assert argument.description, argument


@pytest.mark.parametrize("launch_file", LAUNCH_FILES)
def test_launch_files_pass_only_parameters_their_nodes_declare(launch_file, tmp_path, fake_rviz2):
    """With every argument non-default at once, and with the defaults."""
    for arguments in (_samples(tmp_path)[launch_file], REQUIRED.get(launch_file, {})):
        result = evaluate_launch_file(LAUNCH_DIR / launch_file, arguments)
        assert result.nodes
        for node in result.nodes:
            undeclared = set(node.effective_parameters()) - _declared_parameters(node.executable)
            assert not undeclared, f"{launch_file}: {node.fully_qualified_name} does not declare {undeclared}"


@pytest.mark.parametrize("launch_file", LAUNCH_FILES)
def test_every_argument_reaches_its_node(launch_file, tmp_path, fake_rviz2):
    """One argument at a time with a non-default value: the table's node gets it, as the table says."""
    from mars_ros.node_pattern.launch_arguments import LAUNCH, NAMESPACE, PARAMS_FILE, STARTS

    samples = _samples(tmp_path)[launch_file]
    for argument in _table(launch_file):
        text = samples[argument.name]
        assert text != argument.default, f"{argument.name}: the sample must differ from the default"
        arguments = {**REQUIRED.get(launch_file, {}), argument.name: text}
        if (launch_file, argument.name) in NEEDS:
            other = NEEDS[(launch_file, argument.name)]
            arguments[other] = samples[other]
        result = evaluate_launch_file(LAUNCH_DIR / launch_file, arguments)
        reached = [n for n in result.nodes if argument.reaches(n.name)]
        what = f"{launch_file} {argument.name}:={text}"
        if argument.target == STARTS and argument.kind == "bool":
            assert bool(reached) == argument.parse(text), what
            if argument.parse(text) is False:
                continue
        assert reached or argument.target == LAUNCH, f"{what} reaches no node"
        if argument.parameter:
            for node in reached:
                assert node.effective_parameters()[argument.parameter] == argument.parse(text), \
                    f"{what}: {node.fully_qualified_name} has {node.effective_parameters()}"
        if argument.target == NAMESPACE:
            assert all(n.namespace.startswith(f"/{text}") for n in reached), \
                (what, [n.fully_qualified_name for n in reached])
        if argument.target == PARAMS_FILE:
            assert all(text in n.parameters for n in reached), what
        if argument.target == LAUNCH:  # replay: shutdown_when_done
            handlers = [a for a in result.other_actions if type(a).__name__ == "RegisterEventHandler"]
            assert not handlers if argument.parse(text) is False else handlers, what


def test_camera_launch_arguments_set_the_detector_and_source_parameters():
    """Issue 16 defect 1: backend/model_path/source were passed as top-level parameters the node does not
    declare, so the node ran backend=auto on picamera2."""
    result = evaluate_launch_file(LAUNCH_DIR / "camera.launch.py", {
        "camera": "cam_left", "backend": "onnx", "model_path": "/nonexistent/flower.onnx", "source": "opencv"})
    params = result.node("camera").effective_parameters()
    assert params["detector.backend"] == "onnx" and params["detector.model_path"] == "/nonexistent/flower.onnx"
    assert params["source.kind"] == "opencv"
    assert set(params) <= _declared_parameters("camera_node")
    with pytest.raises(ValueError, match="hef_path"):  # a .hef is not an ONNX model: said, not run on the CPU
        evaluate_launch_file(LAUNCH_DIR / "camera.launch.py", {"camera": "cam_left", "model_path": "/m/x.hef"})
    hailo = evaluate_launch_file(LAUNCH_DIR / "camera.launch.py", {
        "camera": "cam_left", "backend": "hailo", "hef_path": "/models/flower.hef"}).node("camera")
    assert hailo.effective_parameters()["detector.hef_path"] == "/models/flower.hef"


@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("TRUE", True), ("1", True), ("yes", True),
                                        ("false", False), ("False", False), ("0", False), ("No", False)])
def test_boolean_arguments_accept_any_case(text, value):
    result = evaluate_launch_file(LAUNCH_DIR / "jetson.launch.py", {"use_sim_time": text})
    assert result.node("tracker").effective_parameters()["use_sim_time"] is value


def test_a_bad_argument_value_names_the_argument():
    with pytest.raises(ValueError, match=r"use_sim_time:='maybe' is not a boolean"):
        evaluate_launch_file(LAUNCH_DIR / "jetson.launch.py", {"use_sim_time": "maybe"})
    with pytest.raises(ValueError, match=r"finalize_after_idle_s:='soon' must be a number"):
        evaluate_launch_file(LAUNCH_DIR / "jetson.launch.py", {"finalize_after_idle_s": "soon"})


def test_rviz_without_rviz2_is_refused_before_anything_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    for launch_file, arguments in (("jetson.launch.py", {}), ("robot.launch.py", {}),
                                   ("replay.launch.py", {"bag": "/data/b", "player": "mars"})):
        with pytest.raises(RuntimeError, match="rviz:=true needs the ROS package 'rviz2', which is not installed"):
            evaluate_launch_file(LAUNCH_DIR / launch_file, {**arguments, "rviz": "true"})


def test_static_transforms_get_sim_time_and_the_robot_namespace_reaches_every_node(tmp_path):
    result = evaluate_launch_file(LAUNCH_DIR / "robot.launch.py", {"use_sim_time": "true", "namespace": "robot2"})
    tfs = [n for n in result.nodes if n.executable == "static_transform_publisher"]
    assert tfs and all(n.effective_parameters() == {"use_sim_time": True} for n in tfs)
    ours = [n for n in result.nodes if n.package == "mars_counting"]
    assert {n.fully_qualified_name for n in ours} == {"/robot2/cam_left/camera", "/robot2/cam_center/camera",
                                                      "/robot2/cam_right/camera", "/robot2/tracker", "/robot2/fusion"}
    assert all(n.effective_parameters()["use_sim_time"] is True for n in ours)


def test_replay_ends_by_itself_and_ros2bag_waits_for_the_tracker_and_fusion(tmp_path, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", fake_ament_prefix(tmp_path, "ros2bag"))
    result = evaluate_launch_file(LAUNCH_DIR / "replay.launch.py", {"bag": "/data/b", "rate": "2.0",
                                                                   "fix_topic": "/ublox/fix"})
    gate = result.node("replay_gate")
    rig = yaml.safe_load(RIG.read_text())["rig"]
    assert gate.effective_parameters()["topics"] == [f"/{c['name']}/detections" for c in rig["cameras"]] + \
        ["/ublox/fix"]
    handlers = [a.event_handler for a in result.other_actions if type(a).__name__ == "RegisterEventHandler"]
    after_gate = next(h for h in handlers if getattr(h.target_action, "name", None) == "replay_gate")
    (player,) = after_gate.actions_on_exit(0)  # the gate saw every subscription: play
    assert player.cmd[:3] == ["ros2", "bag", "play"] and player.cmd[-3:] == ["--clock", "--rate", "2.0"]
    (shutdown,) = after_gate.actions_on_exit(1)  # it timed out: no replay, the launch ends and says why
    assert "never subscribed" in shutdown.event.reason
    after_player = next(h for h in handlers if h.target_action is player)
    (timer,) = after_player.actions_on_exit(0)
    assert math.isclose(timer.period, 2.0 + 2.0) and type(timer.actions[0].event).__name__ == "Shutdown"
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "nothing"))
    with pytest.raises(RuntimeError, match="player:=ros2bag .* needs the ROS package 'ros2bag'"):
        evaluate_launch_file(LAUNCH_DIR / "replay.launch.py", {"bag": "/data/b"})
