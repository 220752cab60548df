"""FrameDetector with the ONNX Runtime backend: start-up checks, boxes in original pixels, pipelining, features."""
from __future__ import annotations

import numpy as np
import pytest

from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors import ModelMismatchError, create_backend
from mars_camera.detectors.base import LAYOUT_DECODED, ModelOutputs
from mars_core.feature_codec import FeatureEncoding, decode_features
from mars_camera.frame_detector import FrameDetector
from mars_camera.frame_sources.base import Frame
from mars_camera.yolo.letterbox import LetterboxTransform


def _cfg(model_path, **kw):
    return CameraDetectorConfig(backend="onnx", model_path=model_path, **kw)


def test_wrong_input_size_is_reported_with_the_fix(model_path):
    with pytest.raises(ModelMismatchError, match="input_width=320 input_height=320"):
        create_backend(_cfg(model_path, input_width=640, input_height=640))


def test_missing_feature_output_lists_the_model_outputs(model_path):
    with pytest.raises(ModelMismatchError, match=r"feature_output 'neck'.*output0"):
        create_backend(_cfg(model_path, feature_output="neck"))


def test_missing_model_file_names_it(tmp_path):
    with pytest.raises(ModelMismatchError, match="nope.onnx"):
        create_backend(_cfg(str(tmp_path / "nope.onnx")))


def test_auto_falls_back_to_onnx_and_says_why(model_path):
    choice = create_backend(CameraDetectorConfig(backend="auto", model_path=model_path))
    try:
        assert choice.backend.name == "onnx" and "no hef_path" in choice.reason
    finally:
        choice.backend.close()


class _ScriptedBackend:
    """Backend double returning a hand-made decoded output (to test the geometry end to end)."""

    name = "scripted"
    input_size = (320, 320)
    num_classes = 2
    feature_info = None

    def __init__(self, pred):
        self.pred = pred

    def infer(self, img):
        return ModelOutputs(layout=LAYOUT_DECODED, decoded=self.pred)

    def describe(self):
        return {"backend": self.name}

    def close(self):
        pass


def test_boxes_come_back_in_original_image_pixels(model_path):
    # Two boxes given in ORIGINAL pixels of a 1536x864 frame, converted to model-input cx,cy,w,h.
    truth = np.array([[100, 200, 300, 400], [1200, 600, 1500, 850]], np.float32)
    t = LetterboxTransform.compute(1536, 864, 320, 320)
    inp = t.boxes_to_input(truth)
    pred = np.zeros((1, 6, 2100), np.float32)
    pred[0, 0, :2] = (inp[:, 0] + inp[:, 2]) / 2
    pred[0, 1, :2] = (inp[:, 1] + inp[:, 3]) / 2
    pred[0, 2, :2] = inp[:, 2] - inp[:, 0]
    pred[0, 3, :2] = inp[:, 3] - inp[:, 1]
    pred[0, 4, 0] = 0.9
    pred[0, 5, 1] = 0.8
    cfg = _cfg(model_path, feature_encoding="none", model_id="scripted")
    det = FrameDetector(cfg, backend=_ScriptedBackend(pred))  # type: ignore[arg-type]
    result = det.detect(Frame(np.zeros((864, 1536, 3), np.uint8), 5, 0))
    d = result.frame.detections
    np.testing.assert_allclose(d.xyxy, truth, atol=0.05)
    assert d.class_ids.tolist() == [0, 1] and result.frame.image_width == 1536
    # A low-resolution twin of the frame reports the same boxes in the reference (main stream) pixels.
    lores = Frame(np.zeros((180, 320, 3), np.uint8), 5, 0, reference_width=1536, reference_height=864)
    np.testing.assert_allclose(det.detect(lores).frame.detections.xyxy, truth, atol=0.05)
    assert det.detect(Frame(np.zeros((864, 1536, 3), np.uint8), 5, 0)).frame.detections.features is None
    filtered = FrameDetector(_cfg(model_path, feature_encoding="none", model_id="s", class_filter=(1,)),
                             backend=_ScriptedBackend(pred))  # type: ignore[arg-type]
    assert filtered.detect(Frame(np.zeros((864, 1536, 3), np.uint8), 5, 0)).frame.detections.class_ids.tolist() == [1]


@pytest.fixture(scope="module")
def detector(model_path):
    det = FrameDetector(_cfg(model_path, feature_dim=32, feature_pool_size=2), camera_name="cam_left")
    yield det
    det.close()


def test_pipelined_run_equals_synchronous_detect(detector, rendered_images):
    frames = [Frame(rendered_images[i % len(rendered_images)], 1000 + i, i) for i in range(4)]
    sync = [detector.detect(f) for f in frames]
    piped = list(detector.run(frames, depth=2))
    assert [r.frame.frame_number for r in piped] == [0, 1, 2, 3]
    assert sum(len(r.frame.detections) for r in sync) > 0
    for a, b in zip(sync, piped):
        np.testing.assert_array_equal(a.frame.detections.xyxy, b.frame.detections.xyxy)
        assert a.frame.stamp_ns == b.frame.stamp_ns and b.frame.camera_name == "cam_left"
        assert b.timings.inference_s > 0 and b.timings.letterbox_s > 0


def test_features_are_stamped_and_survive_uint8_transport(detector, rendered_images):
    d = detector.detect(Frame(rendered_images[0], 1, 0)).frame.detections
    assert len(d) > 0 and d.features is not None and d.features.shape == (len(d), 32)
    np.testing.assert_allclose(np.linalg.norm(d.features, axis=1), 1.0, atol=1e-5)
    assert d.feature_model_id == detector.feature_model_id and "/roi2x2c4-s8-d32" in d.feature_model_id
    assert detector.model_id.startswith("flower_yolov8n-")
    block = detector.encode_features(d)
    assert block.encoding == FeatureEncoding.UINT8 and len(block.data) == len(d) * 32
    np.testing.assert_allclose(decode_features(block, len(d)), d.features, atol=1 / 127)


def test_the_same_flower_is_recognised_by_its_features_after_a_shift(model_path, rendered_images):
    """Appearance features carry identity: after the camera moves, a flower's nearest feature (cosine) is
    usually its own, far above chance (1 / flowers in view)."""
    det = FrameDetector(_cfg(model_path))  # default feature settings
    hits, chance = [], []
    for image in rendered_images:
        a = det.detect(Frame(image, 1, 0)).frame.detections
        b = det.detect(Frame(np.ascontiguousarray(np.roll(image, (8, 16), axis=(0, 1))), 2, 1)).frame.detections
        centres_a = (a.xyxy[:, :2] + a.xyxy[:, 2:]) / 2 + np.array([16, 8], np.float32)
        centres_b = (b.xyxy[:, :2] + b.xyxy[:, 2:]) / 2
        dist = np.linalg.norm(centres_a[:, None] - centres_b[None], axis=2)
        same = dist.min(axis=1) < 4  # the flower is found again (not cut by the image border)
        best = (a.features @ b.features.T).argmax(axis=1)
        hits += list((best == dist.argmin(axis=1))[same])
        chance += [1 / len(b)] * int(same.sum())
    det.close()
    assert len(hits) >= 10
    assert np.mean(hits) >= 0.6 and np.mean(hits) > 2 * np.mean(chance)


def test_feature_dim_larger_than_the_map_is_refused(model_path):
    with pytest.raises(ModelMismatchError, match="feature_dim 128"):
        FrameDetector(_cfg(model_path, feature_dim=128, feature_pool_size=1))
