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
