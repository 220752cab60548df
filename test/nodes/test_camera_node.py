"""The camera node for real: recorded images through the default ONNX detector, and the fake Pi camera
(picamera2 API) with dropped frames and an unplugged camera."""
from __future__ import annotations

import os

import pytest

from harness.ros_processes import REPO_ROOT, NodeProcess, ros_args, wait_until
from mars_camera.frame_sources.bag_source import BagImageFrameSource
from mars_ros.node_pattern.qos import qos_profile

pytestmark = pytest.mark.ros

FAKES = REPO_ROOT / "test" / "fakes"


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A quick simulated run with rendered images (every 6th frame, half resolution: fast)."""
    from mars_sim import preset_config, simulate, write_run

    out = tmp_path_factory.mktemp("images") / "run"
    config = preset_config("quick", {"duration_s": 6.0, "render": {"scale": 0.5, "image_every_n_frames": 6}})
    write_run(simulate(config, seed=5), out, images=True)
    return out


def test_camera_node_detects_recorded_images_and_publishes_with_capture_stamps(image_run, probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from mars_counting.msg import FlowerDetectionArray
    from sensor_msgs.msg import CameraInfo, CompressedImage

    topic = "/cam_center/image/compressed"
    source = BagImageFrameSource(str(image_run / "bag"), topic)
    source.open()
    stamps = []
    while (frame := source.read()) is not None:
        stamps.append(frame.stamp_ns)
    source.close()
    for t, kind in (("/cam_center/detections", FlowerDetectionArray), ("/cam_center/camera_info", CameraInfo),
                    ("/diagnostics", DiagnosticArray)):
        probe.watch(t, kind)
    probe.watch("/cam_center/debug_image/compressed", CompressedImage, qos_profile("sensor_data"))
    node = NodeProcess("mars_ros.nodes.camera_node", ros_args(
        {"robot_config": str(image_run / "rig.yaml"), "source.kind": "bag", "source.uri": str(image_run / "bag"),
         "source.topic": topic, "debug_image_hz": 5.0, "detector.feature_encoding": "uint8",
         "wait_for_subscribers": 1},
        namespace="cam_center"))
    with node:
        assert node.wait(120) == 0, node.output()
    msgs = probe.wait_for("/cam_center/detections", len(stamps), timeout=10)
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs] == stamps  # capture stamps, all
    assert all(m.header.frame_id == "cam_center_optical_frame" and m.camera_name == "cam_center" for m in msgs)
    with_boxes = [m for m in msgs if m.detections]
    assert len(with_boxes) > len(msgs) // 2
    m = with_boxes[0]
    assert m.features.encoding == m.features.ENCODING_UINT8 and m.features.dim == 64
    assert m.features.model_id.startswith("flower_yolov8n-")
    assert len(m.features.data) == 64 * len(m.detections)
    assert (m.image_width, m.image_height) == (1280, 960)
    infos = probe.wait_for("/cam_center/camera_info", len(stamps))
    assert infos[0].k[0] == pytest.approx(900.0) and infos[0].header.stamp == msgs[0].header.stamp
    assert probe.messages("/cam_center/debug_image/compressed"), "no debug image"
    diag = [s for d in probe.messages("/diagnostics") for s in d.status if "cam_center" in s.name]
    assert diag and {"fps", "inference_ms", "nms_ms", "dropped_frames", "backend"} <= {kv.key for kv in diag[-1].values}


@pytest.mark.slow
def test_camera_node_on_the_pi_camera_survives_an_unplugged_camera(probe, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from mars_counting.msg import FlowerDetectionArray

    probe.watch("/cam_left/detections", FlowerDetectionArray)
    probe.watch("/diagnostics", DiagnosticArray)
    env = dict(os.environ, PYTHONPATH=f"{FAKES}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               FAKE_PICAMERA2_UNPLUG_AFTER="60", FAKE_PICAMERA2_DROP_EVERY="7")
    node = NodeProcess("mars_ros.nodes.camera_node", ros_args(
        {"source.kind": "picamera2", "source.frame_rate_hz": 30.0, "source.reopen_initial_s": 0.2,
         "source.reopen_max_s": 0.5, "wait_for_subscribers": 1}, namespace="cam_left"), env=env)
    with node:
        msgs = probe.wait_for("/cam_left/detections", 20, timeout=60)
        # Sensor timestamps mapped to ROS time: increasing, about 1/30 s apart.
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))

        def reopening():
            return any("cam_left" in s.name and "reopening" in s.message
                       for d in probe.messages("/diagnostics") for s in d.status)
        wait_until(reopening, 30, what="diagnostics reporting the lost camera")
        assert node.alive(), node.output()
        diag = [s for d in probe.messages("/diagnostics") for s in d.status if "cam_left" in s.name][-1]
        values = {kv.key: kv.value for kv in diag.values}
        assert int(values["dropped_frames"]) >= 1 and int(values["source_reopen_attempts"]) >= 1
        assert node.interrupt() == 0, node.output()
