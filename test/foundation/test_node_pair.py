"""Real nodes exchanging our messages over Fast DDS: bag_replay -> (DDS) -> detection_recorder + probe."""
from __future__ import annotations

import numpy as np
import pytest

from harness.ros_processes import NodeProcess, ros_args, wait_until
from mars_core.detections import DetectionFrame, Detections
from mars_core.feature_codec import FeatureEncoding
from mars_ros.bags.bag_files import BagWriter, read_detection_frames
from mars_ros.messages.detection_messages import detection_frame_from_msg

pytestmark = pytest.mark.ros

CAMERAS = ("cam_left", "cam_right")
FRAMES = 20


def _frames():
    rng = np.random.default_rng(7)
    for i in range(FRAMES):
        for k, cam in enumerate(CAMERAS):
            n = int(rng.integers(0, 6))
            xy = rng.uniform(0, 500, (n, 2)).astype(np.float32)
            wh = rng.uniform(10, 60, (n, 2)).astype(np.float32)
            feats = rng.normal(size=(n, 16)).astype(np.float32)
            feats /= np.linalg.norm(feats, axis=1, keepdims=True) + 1e-9
            yield DetectionFrame(cam, 1_700_000_000_000_000_000 + i * 33_333_333 + k * 1_000_000, i, 640, 480,
                                 Detections(np.concatenate([xy, xy + wh], 1), rng.uniform(0.1, 1, n),
                                            np.zeros(n, np.int32), feats, "test-model-v1"))


@pytest.fixture
def recorded_bag(tmp_path):
    path = tmp_path / "source_bag"
    frames = list(_frames())
    with BagWriter(path, "mcap") as writer:
        for frame in frames:
            writer.write_detection_frame(frame, FeatureEncoding.UINT8)
    return path, frames


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_replay_to_recorder_and_probe_over_dds(recorded_bag, tmp_path, probe, storage):
    from mars_counting.msg import FlowerDetectionArray

    source, frames = recorded_bag
    out_bag = tmp_path / f"recorded_{storage}"
    topics = [f"/{cam}/detections" for cam in CAMERAS]
    for topic in topics:
        probe.watch(topic, FlowerDetectionArray)
    recorder = NodeProcess("mars_ros.nodes.detection_recorder", ros_args(
        {"output_path": str(out_bag), "storage": storage, "topics": topics}))
    with recorder:
        # Hold the replay until the recorder and the probe are both subscribed (no lost first messages).
        replay = NodeProcess("mars_ros.nodes.bag_replay", ros_args(
            {"bag_path": str(source), "rate": 4.0, "wait_for_subscribers": 2}))
        with replay:
            assert replay.wait(timeout=60) == 0, replay.output()
        for topic in topics:
            probe.wait_for(topic, FRAMES, timeout=10)
        wait_until(lambda: out_bag.exists(), 5, what="recorder bag folder")
        assert recorder.alive(), recorder.output()
        assert recorder.interrupt() == 0, recorder.output()  # SIGINT -> clean exit 0, bag closed
    # The probe got exactly the frames, in order, decoded through the generated rclpy types.
    for cam, topic in zip(CAMERAS, topics):
        got = [detection_frame_from_msg(m) for m in probe.messages(topic)]
        want = [f for f in frames if f.camera_name == cam]
        assert [g.frame_number for g in got] == [w.frame_number for w in want]
        for g, w in zip(got, want):
            assert g.stamp_ns == w.stamp_ns and g.frame_id == f"{cam}_optical_frame"
            np.testing.assert_allclose(g.detections.xyxy, w.detections.xyxy, atol=1e-3)
            if len(w.detections):
                assert g.detections.feature_model_id == "test-model-v1"
                np.testing.assert_allclose(g.detections.features, w.detections.features, atol=1 / 127)
    # The recorder's bag reads back with rosbags and holds every message.
    recorded = list(read_detection_frames(out_bag))
    assert len(recorded) == len(frames)
    by_key = {(f.camera_name, f.frame_number): f for _, f in recorded}
    for w in frames:
        g = by_key[(w.camera_name, w.frame_number)]
        assert g.stamp_ns == w.stamp_ns
        np.testing.assert_allclose(g.detections.scores, w.detections.scores, atol=1e-6)


def test_parameters_are_declared_with_descriptions_and_diagnostics_published(recorded_bag, tmp_path, probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.srv import DescribeParameters

    probe.watch("/diagnostics", DiagnosticArray)
    recorder = NodeProcess("mars_ros.nodes.detection_recorder", ros_args(
        {"output_path": str(tmp_path / "out"), "topics": ["/cam_left/detections"]}))
    with recorder:
        client = probe.node.create_client(DescribeParameters, "/detection_recorder/describe_parameters")
        assert client.wait_for_service(timeout_sec=15), recorder.output()
        future = client.call_async(DescribeParameters.Request(names=["output_path", "storage", "qos"]))
        wait_until(future.done, 10, what="describe_parameters response")
        descriptors = {d.name: d for d in future.result().descriptors}
        assert "New rosbag2 folder" in descriptors["output_path"].description
        assert descriptors["output_path"].read_only and not descriptors["qos"].read_only
        msgs = probe.wait_for("/diagnostics", 1, timeout=10)
        status = [s for m in msgs for s in m.status if s.name.startswith("detection_recorder")]
        assert status and {kv.key for kv in status[0].values} >= {"messages", "rate_hz", "invalid"}
        assert recorder.interrupt() == 0, recorder.output()


def test_bad_parameter_names_it_and_exits_nonzero(tmp_path):
    proc = NodeProcess("mars_ros.nodes.bag_replay", ros_args({"bag_path": str(tmp_path), "rate": -2.0}))
    with proc:
        code = proc.wait(timeout=30)
    assert code == 2, proc.output()
    assert "rate" in proc.output() and ">= 0.01" in proc.output()


def test_missing_bag_is_reported(tmp_path):
    proc = NodeProcess("mars_ros.nodes.bag_replay",
                       ros_args({"bag_path": str(tmp_path / "nope")}))
    with proc:
        code = proc.wait(timeout=30)
    assert code != 0
    assert "nope" in proc.output() and "does not exist" in proc.output()
