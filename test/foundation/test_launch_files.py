"""Launch files evaluated with the test stand-in, and their nodes started for real."""
from __future__ import annotations

import pytest

from harness.launch_evaluation import evaluate_launch_file
from harness.ros_processes import REPO_ROOT, wait_until
from mars_core.detections import DetectionFrame, Detections
from mars_ros.bags.bag_files import BagWriter, read_detection_frames

pytestmark = pytest.mark.ros

LAUNCH = REPO_ROOT / "launch" / "bag_replay.launch.py"


def test_bag_replay_launch_declares_nodes_and_parameters(tmp_path):
    result = evaluate_launch_file(LAUNCH, {"bag": "/data/run", "record_to": str(tmp_path / "copy"),
                                           "topics": "/a/detections,/b/detections", "rate": "2.5"})
    assert set(result.arguments) >= {"bag", "rate", "loop", "record_to", "topics", "storage", "publish_clock",
                                     "use_sim_time"}
    replay = result.node("bag_replay")
    assert replay.executable == "bag_replay_node" and replay.package == "mars_counting"
    assert replay.effective_parameters() == {"bag_path": "/data/run", "rate": 2.5, "loop": False,
                                             "wait_for_subscribers": 0, "publish_clock": False,
                                             "use_sim_time": False}
    recorder = result.node("detection_recorder")
    assert recorder.effective_parameters()["topics"] == ["/a/detections", "/b/detections"]
    assert replay.module() == "mars_ros.nodes.bag_replay"
    # Without record_to only the replay runs.
    assert [n.name for n in evaluate_launch_file(LAUNCH, {"bag": "/x"}).nodes] == ["bag_replay"]


def test_bag_replay_launch_runs_for_real(tmp_path):
    source = tmp_path / "source"
    with BagWriter(source, "sqlite3") as writer:
        for i in range(10):
            writer.write_detection_frame(DetectionFrame("cam_center", 10**18 + i * 10**8, i, 640, 480,
                                                        Detections([[10, 10, 50, 50]], [0.9], [0])))
    copy = tmp_path / "copy"
    result = evaluate_launch_file(LAUNCH, {"bag": str(source), "record_to": str(copy), "rate": "5.0",
                                           "topics": "/cam_center/detections", "wait_for_subscribers": "1"})
    recorder = result.node("detection_recorder").start()
    with recorder:
        replay = result.node("bag_replay").start()
        with replay:
            assert replay.wait(60) == 0, replay.output()
        wait_until(lambda: copy.exists(), 5, what="recorded bag")
        assert recorder.interrupt() == 0, recorder.output()
    frames = [f for _, f in read_detection_frames(copy)]
    assert [f.frame_number for f in frames] == list(range(10))
