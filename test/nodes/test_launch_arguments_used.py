"""The launch arguments are used by the running nodes: launched (stand-in evaluation, real node processes) with
non-default values, each node says through its diagnostics, its services and the ROS graph what it actually uses
(backend chosen, model file loaded, source kind, lifecycle state, topics after namespacing, sim time), and runtime
parameter changes are applied or refused as the nodes' descriptions say.

Every argument reaching its node is checked for all launch files in test/foundation/test_launch_arguments.py;
here the ones a node can be seen to use.
"""
from __future__ import annotations

import shutil
import time

import pytest
import yaml

from harness.launch_evaluation import evaluate_launch_file
from harness.ros_processes import REPO_ROOT, NodeProcess, ros_args, wait_until

pytestmark = pytest.mark.ros

LAUNCH_DIR = REPO_ROOT / "launch"
RIG = REPO_ROOT / "config" / "mars_rig.yaml"


def _images(folder, count):
    import cv2
    import numpy as np

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image = np.full((120, 160, 3), 60, np.uint8)
        for _ in range(3):  # a few bright blobs
            x, y = rng.integers(10, 150), rng.integers(10, 110)
            cv2.circle(image, (int(x), int(y)), 6, (255, 255, 255), -1)
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), image)
    return folder


def _change_state(probe, node, transition):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    request = ChangeState.Request(transition=Transition(id=transition))
    return probe.call(ChangeState, f"{node}/change_state", request).success


def _state(probe, node):
    from lifecycle_msgs.srv import GetState

    return probe.call(GetState, f"{node}/get_state", GetState.Request()).current_state.label


def test_camera_launch_arguments_are_used_and_the_node_is_managed(probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from mars_camera.detector_config import DEFAULT_MODEL_PATH
    from mars_counting.msg import FlowerDetectionArray

    model = tmp_path / "my_flower.onnx"  # a model file that is not the default one
    shutil.copy(DEFAULT_MODEL_PATH, model)
    rig = tmp_path / "robot.yaml"
    rig.write_text(RIG.read_text())
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"detector.score_threshold": 0.3}}}))
    frames = 80
    arguments = {"camera": "cam_right", "namespace": "robot2", "robot_config": str(rig), "backend": "onnx",
                 "model_path": str(model), "hef_path": "/models/unused.hef", "source": "folder",
                 "source_uri": str(_images(tmp_path / "images", frames)), "source_topic": "/unused/image",
                 "image_topic": "unused/image", "detections_topic": "dets", "autostart": "False",
                 "params_file": str(params), "use_sim_time": "True"}
    spec = evaluate_launch_file(LAUNCH_DIR / "camera.launch.py", arguments).node("camera")
    name = "/robot2/cam_right/camera"
    assert spec.fully_qualified_name == name
    probe.watch("/diagnostics", DiagnosticArray)
    probe.watch("/robot2/cam_right/dets", FlowerDetectionArray)
    node = spec.start()
    with node:
        assert _state(probe, name) == "unconfigured", node.output()  # autostart:=False used
        values = probe.get_parameters(name, ["detector.hef_path", "source.topic", "image_topic", "robot_config",
                                             "detector.score_threshold", "use_sim_time", "camera_name"])
        assert values == {"detector.hef_path": "/models/unused.hef", "source.topic": "/unused/image",
                          "image_topic": "unused/image", "robot_config": str(rig), "detector.score_threshold": 0.3,
                          "use_sim_time": True, "camera_name": "cam_right"}
        # A start-up setting may change while unconfigured (it is used at configure) ...
        assert probe.set_parameter(name, "qos_depth", 40).successful
        assert _change_state(probe, name, Transition.TRANSITION_CONFIGURE), node.output()
        # ... and is refused, with the reason, once configured.
        refused = probe.set_parameter(name, "qos_depth", 50)
        assert not refused.successful and "used when the node is configured" in refused.reason
        assert _change_state(probe, name, Transition.TRANSITION_ACTIVATE), node.output()
        probe.wait_for("/robot2/cam_right/dets", 3, timeout=60)
        assert _change_state(probe, name, Transition.TRANSITION_DEACTIVATE), node.output()
        assert _state(probe, name) == "inactive"
        time.sleep(1.0)  # deactivate joined the capture thread; let DDS deliver what it published
        paused = len(probe.messages("/robot2/cam_right/dets"))
        time.sleep(1.0)
        assert len(probe.messages("/robot2/cam_right/dets")) == paused < frames, "published while inactive"
        assert _change_state(probe, name, Transition.TRANSITION_ACTIVATE), node.output()  # device kept: resumes
        assert node.wait(120) == 0, node.output()  # the folder ended: exit_when_done
    msgs = probe.wait_for("/robot2/cam_right/dets", frames, timeout=10)
    assert [m.frame_number for m in msgs] == list(range(frames))  # every frame once, across the pause
    assert all(m.camera_name == "cam_right" for m in msgs)
    used = [d for d in probe.diagnostics("cam_right") if "backend" in d][-1]
    assert used["backend"] == "onnx" and used["model_file"] == str(model) and used["source_kind"] == "folder"
    assert used["detections_topic"] == "/robot2/cam_right/dets" and used["use_sim_time"] == "True"
    assert "parameters changed: qos_depth: 30 -> 40" in node.output()


def test_camera_configure_failure_is_a_failed_transition_not_a_crash(probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition

    probe.watch("/diagnostics", DiagnosticArray)
    spec = evaluate_launch_file(LAUNCH_DIR / "camera.launch.py", {
        "camera": "cam_left", "source": "folder", "source_uri": str(tmp_path / "missing"), "backend": "onnx",
        "autostart": "false"}).node("camera")
    node = spec.start()
    with node:
        assert not _change_state(probe, "/cam_left/camera", Transition.TRANSITION_CONFIGURE)
        assert _state(probe, "/cam_left/camera") == "unconfigured" and node.alive(), node.output()
        wait_until(lambda: any("configure failed" in d["_message"] and "missing" in d["_message"]
                               for d in probe.diagnostics("cam_left")), 30, what="the failure in diagnostics")
        assert node.interrupt() == 0, node.output()
    # With autostart (the default) the same failure ends the process, saying why, as a start-up error did before.
    failing = evaluate_launch_file(LAUNCH_DIR / "camera.launch.py", {
        "camera": "cam_left", "source": "folder", "source_uri": str(tmp_path / "missing"),
        "backend": "onnx"}).node("camera").start()
    with failing:
        assert failing.wait(60) == 1
    assert "configure failed" in failing.output() and "missing" in failing.output()


def test_jetson_launch_arguments_are_used(probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import NavSatFix

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"/robot2/tracker": {"ros__parameters": {"tracker.min_hits": 4}}}))
    rig = tmp_path / "robot.yaml"
    rig.write_text(RIG.read_text())
    export, map_file = tmp_path / "export", tmp_path / "map.npz"
    result = evaluate_launch_file(LAUNCH_DIR / "jetson.launch.py", {
        "robot_config": str(rig), "namespace": "robot2", "params_file": str(params), "use_sim_time": "TRUE",
        "map_file": str(map_file), "export_dir": str(export), "finalize_after_idle_s": "3.5",
        "fix_topic": "/ublox/fix", "imu_topic": "None", "odometry_topic": "odom"})
    probe.watch("/diagnostics", DiagnosticArray)
    tracker, fusion = result.node("tracker").start(), result.node("fusion").start()
    with tracker, fusion:
        wait_until(lambda: probe.diagnostics("cam_left") and probe.diagnostics("map"), 30,
                   what=f"diagnostics of both nodes\n{tracker.output()}\n{fusion.output()}")
        used = probe.diagnostics("cam_left")[-1]
        assert used["detections_topic"] == "/robot2/cam_left/detections"
        assert used["tracks_topic"] == "/robot2/cam_left/tracks"
        assert used["min_hits"] == "4" and used["use_sim_time"] == "True"  # the params file, sim time
        mapping = probe.diagnostics("map")[-1]
        assert mapping["fix_topic"] == "/ublox/fix" and mapping["use_sim_time"] == "True"
        graph = dict(probe.node.get_subscriber_names_and_types_by_node("fusion", "/robot2"))
        assert "/ublox/fix" in graph and not [t for t, types in graph.items() if "sensor_msgs/msg/Imu" in types]
        assert "/robot2/cam_center/tracks" in graph
        tracker_graph = dict(probe.node.get_subscriber_names_and_types_by_node("tracker", "/robot2"))
        assert tracker_graph.get("/robot2/odom") == ["nav_msgs/msg/Odometry"]
        values = probe.get_parameters("/robot2/fusion", ["finalize_after_idle_s", "map_file", "export_dir"])
        assert values == {"finalize_after_idle_s": 3.5, "map_file": str(map_file), "export_dir": str(export)}
        # Fixes on the remapped GNSS topic reach the mapper (they wait in its reorder buffer for tracks).
        publisher = probe.node.create_publisher(NavSatFix, "/ublox/fix", 10)
        wait_until(lambda: publisher.get_subscription_count() >= 1, 30, what="the fusion on /ublox/fix")
        time.sleep(1.0)  # discovery completes on the subscriber's side too
        for i in range(10):  # 1 s apart: older than the reorder delay, so they are processed
            fix = NavSatFix(latitude=31.5 + i * 1e-5, longitude=-110.3, altitude=1200.0)
            fix.header.stamp.sec, fix.header.frame_id = 1_000 + i, "gnss_link"
            fix.position_covariance = [0.0004, 0, 0, 0, 0.0004, 0, 0, 0, 0.0009]
            fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
            publisher.publish(fix)
        wait_until(lambda: any(float(d.get("buffered_messages", "0")) > 0 for d in probe.diagnostics("map")), 30,
                   what=f"the fusion receiving the fixes: {probe.diagnostics('map')[-1:]}")
        assert tracker.interrupt() == 0, tracker.output()
        assert fusion.interrupt() == 0, fusion.output()


def test_runtime_parameter_changes_are_applied_or_refused(probe):
    """ros2 param set: tracker.min_hits 7 is applied (between frames, logged); -5 and start-up settings are
    refused with the reason; a refused fusion.* change leaves the map alone."""
    from diagnostic_msgs.msg import DiagnosticArray

    probe.watch("/diagnostics", DiagnosticArray)
    tracker = NodeProcess("mars_ros.nodes.tracker_node", ros_args({"robot_config": str(RIG)}))
    fusion = NodeProcess("mars_ros.nodes.fusion_node", ros_args({"robot_config": str(RIG)}))
    with tracker, fusion:
        applied = probe.set_parameter("/tracker", "tracker.min_hits", 7)
        assert applied.successful, applied.reason
        wait_until(lambda: any(d.get("min_hits") == "7" for d in probe.diagnostics("cam_left")), 30,
                   what=f"the tracker using min_hits 7\n{tracker.output()}")
        out_of_range = probe.set_parameter("/tracker", "tracker.min_hits", -5)
        assert not out_of_range.successful and out_of_range.reason
        start_up = probe.set_parameter("/tracker", "qos_depth", 5)
        assert not start_up.successful and "start-up" in start_up.reason and "qos_depth" in start_up.reason
        read_only = probe.set_parameter("/tracker", "detections_topic", "other")
        assert not read_only.successful
        assert probe.get_parameters("/tracker", ["tracker.min_hits", "qos_depth"]) == {"tracker.min_hits": 7,
                                                                                      "qos_depth": 100}
        refused = probe.set_parameter("/fusion", "fusion.canopy_height_m", 0.9)
        assert not refused.successful and "map" in refused.reason, refused.reason
        assert probe.set_parameter("/fusion", "flowers_period_s", 2.0).successful
        assert probe.get_parameters("/fusion", ["fusion.canopy_height_m"]) == {"fusion.canopy_height_m": 0.75}
        descriptor = _describe(probe, "/tracker", "tracker.min_hits")
        assert descriptor.integer_range[0].from_value == 1 and "applied at runtime" in descriptor.description
        assert "start-up only" in _describe(probe, "/fusion", "fusion.canopy_height_m").description
        assert tracker.interrupt() == 0 and fusion.interrupt() == 0
    assert "tracker.min_hits: 3 -> 7" in tracker.output()


def _describe(probe, node, name):
    from rcl_interfaces.srv import DescribeParameters

    return probe.call(DescribeParameters, f"{node}/describe_parameters",
                      DescribeParameters.Request(names=[name])).descriptors[0]


@pytest.mark.parametrize("value,message", [
    ("tracker.min_hit: 4", "unknown parameter(s) tracker.min_hit (did you mean tracker.min_hits?)"),
    ("tracker.min_hits: four", "tracker.min_hits"),
    ("tracker.min_hits: -5", "tracker.min_hits must be >= 1")])
def test_a_bad_params_file_is_named_at_start_up_with_exit_code_2(tmp_path, value, message):
    params = tmp_path / "params.yaml"
    params.write_text(f"tracker:\n  ros__parameters:\n    {value}\n")
    node = NodeProcess("mars_ros.nodes.tracker_node", ros_args({"robot_config": str(RIG)}, params_file=params))
    with node:
        assert node.wait(60) == 2, node.output()
    assert message in node.output()


def test_a_second_sigint_does_not_interrupt_the_shutdown(tmp_path):
    """A terminal Ctrl-C reaches every process of the group and `ros2 launch` sends its own SIGINT as well
    (found running the launch files with the real launch): the node still closes cleanly, exit 0."""
    import signal

    for module in ("mars_ros.nodes.tracker_node", "mars_ros.nodes.fusion_node"):
        node = NodeProcess(module, ros_args({"robot_config": str(RIG)}))
        with node:
            wait_until(lambda: "QoS" in node.output(), 30, what=f"{module} started")
            node.proc.send_signal(signal.SIGINT)
            time.sleep(0.02)
            node.proc.send_signal(signal.SIGINT)
            assert node.wait(30) == 0, node.output()


def test_the_replay_gate_opens_once_the_topics_have_subscribers(probe):
    """replay.launch.py's subscriber_gate: exit 0 when every topic has its subscription (then `ros2 bag play`
    starts), exit 1 naming the topic that has none after the timeout."""
    from sensor_msgs.msg import NavSatFix

    probe.node.create_subscription(NavSatFix, "/gate_test/fix", lambda msg: None, 10)
    gate = NodeProcess("mars_ros.nodes.subscriber_gate", ros_args({"topics": ["/gate_test/fix"],
                                                                   "subscribers": 1}))
    with gate:
        assert gate.wait(30) == 0, gate.output()
    closed = NodeProcess("mars_ros.nodes.subscriber_gate", ros_args({"topics": ["/gate_test/nobody"],
                                                                     "timeout_s": 1.0}))
    with closed:
        assert closed.wait(30) == 1, closed.output()
    assert "no subscription on ['/gate_test/nobody']" in closed.output()
