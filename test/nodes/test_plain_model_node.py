"""The camera node runs a plain export (no feature output): detections with an empty feature block, and its
log and diagnostics say that the tracker associates on motion only."""
from __future__ import annotations

import pytest

from harness.ros_processes import NodeProcess, ros_args

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A 3 s quick run with rendered images (every 6th frame, half resolution)."""
    from mars_sim import preset_config, simulate, write_run

    out = tmp_path_factory.mktemp("plain_images") / "run"
    config = preset_config("quick", {"duration_s": 3.0, "render": {"scale": 0.5, "image_every_n_frames": 6}})
    write_run(simulate(config, seed=5), out, images=True)
    return out


@pytest.fixture(scope="module")
def plain_onnx(tmp_path_factory):
    """The default model without its 'features' output."""
    import onnx
    from mars_camera.detector_config import CameraDetectorConfig

    model = onnx.load(CameraDetectorConfig().resolved_model_path)
    keep = [o for o in model.graph.output if o.name != "features"]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    path = tmp_path_factory.mktemp("plain_model") / "stock.onnx"
    onnx.save(model, str(path))
    return str(path)


def test_camera_node_publishes_an_empty_feature_block_for_a_plain_model(image_run, plain_onnx, probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from mars_counting.msg import FlowerDetectionArray

    topic = "/cam_center/image/compressed"
    probe.watch("/cam_center/detections", FlowerDetectionArray)
    probe.watch("/diagnostics", DiagnosticArray)
    node = NodeProcess("mars_ros.nodes.camera_node", ros_args(
        {"robot_config": str(image_run / "rig.yaml"), "source.kind": "bag", "source.uri": str(image_run / "bag"),
         "source.topic": topic, "detector.model_path": plain_onnx, "detector.backend": "onnx",
         "detector.score_threshold": 0.05, "wait_for_subscribers": 1}, namespace="cam_center"))
    with node:
        assert node.wait(120) == 0, node.output()
    log = node.output()
    assert "no feature output 'features'" in log and "motion only" in log
    msgs = probe.wait_for("/cam_center/detections", 3, timeout=10)
    with_boxes = [m for m in msgs if m.detections]
    assert with_boxes, "the plain model found nothing"
    assert all(m.features.dim == 0 and len(m.features.data) == 0 and m.features.model_id == "" for m in msgs)
    diag = [s for d in probe.messages("/diagnostics") for s in d.status if "cam_center" in s.name]
    appearance = {kv.key: kv.value for kv in diag[-1].values}["appearance"]
    assert "motion only" in appearance
