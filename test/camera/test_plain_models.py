"""Plain exports without a feature output (Ultralytics' own ONNX/Hailo export, the model zoo) run by default:
no features, one warning, the same boxes; a feature output asked for by name is still required."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import hailo_platform
from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors import ModelMismatchError, create_backend
from mars_camera.frame_detector import FrameDetector
from mars_camera.frame_sources.base import Frame
from mars_core.detections import DetectionFrame
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig


@pytest.fixture(scope="module")
def plain_onnx(model_path, tmp_path_factory) -> str:
    """The default model with its 'features' graph output removed: what a stock export looks like."""
    import onnx
    model = onnx.load(model_path)
    keep = [o for o in model.graph.output if o.name != "features"]
    assert len(keep) == len(model.graph.output) - 1
    del model.graph.output[:]
    model.graph.output.extend(keep)
    path = tmp_path_factory.mktemp("plain") / "stock_yolov8n.onnx"
    onnx.save(model, str(path))
    return str(path)


def test_a_plain_onnx_runs_without_features_and_finds_the_same_boxes(plain_onnx, model_path, rendered_images,
                                                                     caplog):
    with caplog.at_level(logging.WARNING, logger="mars_camera.frame_detector"):
        plain = FrameDetector(CameraDetectorConfig(backend="onnx", model_path=plain_onnx), camera_name="cam_x")
    full = FrameDetector(CameraDetectorConfig(backend="onnx", model_path=model_path))
    try:
        warned = [r.getMessage() for r in caplog.records if "no feature output" in r.getMessage()]
        assert len(warned) == 1 and "cam_x" in warned[0] and "motion only" in warned[0]
        assert plain.features is None and "motion only" in plain.appearance
        assert full.features is not None and full.backend.features_note == "" and "64-d" in full.appearance
        for k, image in enumerate(rendered_images[:3]):
            a = plain.detect(Frame(image, 10 + k, k)).frame.detections
            b = full.detect(Frame(image, 10 + k, k)).frame.detections
            assert a.features is None and a.feature_model_id == "" and b.features is not None
            np.testing.assert_array_equal(a.xyxy, b.xyxy)
            np.testing.assert_array_equal(a.scores, b.scores)
    finally:
        plain.close()
        full.close()


def test_a_feature_output_named_in_the_config_is_still_required(plain_onnx):
    with pytest.raises(ModelMismatchError, match=r"feature_output 'features' is not an output of .*stock_yolov8n"):
        create_backend(CameraDetectorConfig(backend="onnx", model_path=plain_onnx, feature_output="features"))
    quiet = create_backend(CameraDetectorConfig(backend="onnx", model_path=plain_onnx, feature_output=""))
    try:
        assert quiet.backend.feature_info is None and quiet.backend.features_note == ""
    finally:
        quiet.backend.close()


@pytest.mark.hailo
def test_a_hef_without_a_feature_output_runs_on_the_hailo(model_path, fake_hailo, tmp_path, rendered_images):
    hef = fake_hailo.write_fake_hef(str(tmp_path / "zoo.hef"), model_path, feature_output="")
    cfg = CameraDetectorConfig(backend="hailo", hef_path=hef, score_threshold=0.01)
    backend = create_backend(cfg, hailo_module=hailo_platform,
                             architecture_probe=fake_hailo.identify_architecture).backend
    detector = FrameDetector(cfg, backend=backend)
    try:
        assert backend.feature_info is None and "no feature output 'features'" in backend.features_note
        assert Path(hef).name in backend.features_note
        d = detector.detect(Frame(rendered_images[0], 5, 0)).frame.detections
        assert len(d) > 0 and d.features is None
        with pytest.raises(ModelMismatchError, match="feature_output 'features' matches 0 outputs"):
            create_backend(CameraDetectorConfig(backend="hailo", hef_path=hef, feature_output="features"),
                           hailo_module=hailo_platform, architecture_probe=fake_hailo.identify_architecture)
    finally:
        detector.close()


def test_the_tracker_says_once_that_it_associates_on_motion_only(plain_onnx, rendered_images):
    detector = FrameDetector(CameraDetectorConfig(backend="onnx", model_path=plain_onnx), camera_name="cam_x")
    tracker = CameraTracker(TrackerConfig())
    assert tracker.association.startswith("not known yet")
    said = []
    try:
        for k in range(6):
            frame: DetectionFrame = detector.detect(Frame(rendered_images[k % len(rendered_images)],
                                                          1_000_000_000 + k * 33_000_000, k)).frame
            said += [w for w in tracker.update(frame).warnings if "motion only" in w]
    finally:
        detector.close()
    assert len(said) == 1 and "cam_x" in said[0]
    assert tracker.association.startswith("motion only") and tracker.warning_count == 0
