"""The tracker node over DDS gives exactly the offline core's answer on the same recorded detections."""
from __future__ import annotations

import pytest

from harness.ros_processes import NodeProcess, ros_args, wait_until
from mars_ros.bags.bag_files import read_detection_frames
from mars_core.rig import load_rig
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig

pytestmark = pytest.mark.ros


def _offline_counts(run):
    rig = load_rig(run / "rig.yaml")
    trackers = {c.name: CameraTracker(TrackerConfig(), camera_model=c.model) for c in rig.cameras}
    frames = {name: 0 for name in trackers}
    for _, frame in read_detection_frames(run / "bag"):
        trackers[frame.camera_name].update(frame)
        frames[frame.camera_name] += 1
    return {name: t.confirmed_count for name, t in trackers.items()}, frames


@pytest.mark.slow
def test_tracker_node_matches_offline_core(quick_run, probe):
    from mars_counting.msg import FlowerCount, FlowerTrackArray
    from visualization_msgs.msg import MarkerArray

    expected, frames = _offline_counts(quick_run)
    cameras = list(expected)
    for cam in cameras:
        probe.watch(f"/{cam}/tracks", FlowerTrackArray)
    probe.watch("/mars/track_counts", FlowerCount)
    probe.watch("/mars/track_markers", MarkerArray)
    tracker = NodeProcess("mars_ros.nodes.tracker_node",
                          ros_args({"robot_config": str(quick_run / "rig.yaml"), "qos_depth": 1000}))
    with tracker:
        for cam in cameras:
            probe.wait_for_publishers(f"/{cam}/tracks", 1, timeout=20)
        replay = NodeProcess("mars_ros.nodes.bag_replay", ros_args(
            {"bag_path": str(quick_run / "bag"), "rate": 4.0, "wait_for_subscribers": 1, "qos_depth": 1000,
             "topics": [f"/{cam}/detections" for cam in cameras]}))
        with replay:
            assert replay.wait(120) == 0, replay.output()
        for cam in cameras:
            msgs = probe.wait_for(f"/{cam}/tracks", frames[cam], timeout=30)
            assert len(msgs) == frames[cam]
            assert msgs[-1].confirmed_count == expected[cam], (cam, tracker.output()[-2000:])
            assert msgs[-1].header.frame_id == f"{cam}_optical_frame"
            assert any(t.confirmed for m in msgs for t in m.tracks)
            assert any(t.status == t.STATUS_REMOVED for m in msgs for t in m.tracks)
        wait_until(lambda: any(m.total == sum(expected.values()) for m in probe.messages("/mars/track_counts")),
                   5, what="final per-camera counts")
        counts = probe.messages("/mars/track_counts")[-1]
        assert {c.name: c.count for c in counts.per_camera} == expected
        markers = probe.wait_for("/mars/track_markers", 1)[-1]
        assert {m.ns for m in markers.markers} == {f"tracks/{c}" for c in cameras} | {"frusta"}
        assert all(len(m.points) == 16 for m in markers.markers if m.ns == "frusta")
        assert tracker.interrupt() == 0, tracker.output()
    assert all(v > 0 for v in expected.values())


def test_tracker_node_rejects_unknown_camera(quick_run):
    proc = NodeProcess("mars_ros.nodes.tracker_node",
                       ros_args({"robot_config": str(quick_run / "rig.yaml"), "cameras": ["cam_nope"]}))
    with proc:
        assert proc.wait(30) == 2, proc.output()
    assert "cam_nope" in proc.output()


def test_tracker_node_rejects_bad_tracker_parameter(quick_run):
    proc = NodeProcess("mars_ros.nodes.tracker_node",
                       ros_args({"robot_config": str(quick_run / "rig.yaml"), "tracker.min_hits": 0}))
    with proc:
        assert proc.wait(30) == 2, proc.output()
    assert "min_hits" in proc.output()


def test_tracker_node_parameter_descriptors_carry_the_config_ranges(quick_run, probe):
    """`ros2 param describe` over the node's describe_parameters service: ranges and choices from config_field."""
    import time

    from rcl_interfaces.srv import DescribeParameters

    names = ["tracker.min_hits", "tracker.appearance_gate", "tracker.gate_mahalanobis", "tracker.embedding_momentum",
             "qos", "tracker.counting_line"]
    client = probe.node.create_client(DescribeParameters, "/tracker/describe_parameters")
    tracker = NodeProcess("mars_ros.nodes.tracker_node", ros_args({"robot_config": str(quick_run / "rig.yaml")}))
    with tracker:
        assert client.wait_for_service(timeout_sec=30), tracker.output()
        future = client.call_async(DescribeParameters.Request(names=names))
        deadline = time.monotonic() + 10
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert future.done(), tracker.output()
        described = {d.name: d for d in future.result().descriptors}
        assert tracker.interrupt() == 0, tracker.output()
    probe.node.destroy_client(client)
    min_hits = described["tracker.min_hits"]
    assert [(r.from_value, r.to_value, r.step) for r in min_hits.integer_range] == [(1, 2 ** 63 - 1, 0)]
    assert min_hits.additional_constraints == "must be >= 1" and not min_hits.floating_point_range
    gate = described["tracker.appearance_gate"]
    assert [(r.from_value, r.to_value, r.step) for r in gate.floating_point_range] == [(0.0, 2.0, 0.0)]
    assert gate.additional_constraints == "must lie in (0, 2]"  # ROS ranges are closed: 0 itself is ours to reject
    mahalanobis = described["tracker.gate_mahalanobis"].floating_point_range[0]
    assert (mahalanobis.from_value, mahalanobis.to_value) == (0.0, float("inf"))
    momentum = described["tracker.embedding_momentum"]
    assert (momentum.floating_point_range[0].from_value, momentum.floating_point_range[0].to_value) == (0.0, 1.0)
    assert momentum.additional_constraints == "must lie in [0, 1)"
    assert "one of: reliable" in described["qos"].description
    line = described["tracker.counting_line"]
    assert not line.integer_range and not line.floating_point_range and line.description
