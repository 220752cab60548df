"""Our whole ONNX pipeline (letterbox, ONNX Runtime, decode, NMS, boxes back to image pixels) against
ultralytics' own predict() on the same model and images.

The golden file was made in the dev-only environment by
`models/detector/train_detector.py golden` (ultralytics is never imported here); it stores the images
(PNG bytes, so decoding is exact), the thresholds and ultralytics' boxes/scores/classes.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.frame_detector import FrameDetector
from mars_camera.frame_sources.base import Frame
from mars_camera.yolo.nms import box_iou

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_ultralytics.npz"


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing: regenerate it with models/detector/train_detector.py golden")
    return dict(np.load(GOLDEN))


def test_golden_file_was_made_for_the_shipped_model(golden, model_path):
    from mars_camera.detectors.base import model_id_for
    assert model_id_for(model_path).endswith("-" + str(golden["model_sha"])), \
        "the shipped model changed: regenerate the golden file (models/detector/README.md)"


def test_detections_equal_ultralytics_predict(golden, model_path):
    cfg = CameraDetectorConfig(backend="onnx", model_path=model_path, score_threshold=float(golden["conf"]),
                               iou_threshold=float(golden["iou"]), input_width=int(golden["imgsz"]),
                               input_height=int(golden["imgsz"]), feature_encoding="none")
    total = 0
    with FrameDetector(cfg) as det:
        for i in range(int(golden["count"])):
            image = cv2.imdecode(golden[f"png_{i}"], cv2.IMREAD_COLOR)
            d = det.detect(Frame(image, 0, i)).frame.detections
            ref_xyxy, ref_scores = golden[f"xyxy_{i}"], golden[f"scores_{i}"]
            assert len(d) == len(ref_scores), f"image {i}: {len(d)} boxes, ultralytics {len(ref_scores)}"
            if len(d) == 0:
                continue
            # Same order (descending score), same boxes in original-image pixels.
            np.testing.assert_allclose(d.scores, ref_scores, atol=1e-4)
            np.testing.assert_allclose(d.xyxy, ref_xyxy, atol=0.05)
            assert d.class_ids.tolist() == golden[f"class_ids_{i}"].tolist()
            assert (np.diag(box_iou(d.xyxy, ref_xyxy)) > 0.999).all()
            total += len(d)
    assert total >= 5, "the golden images must contain detections to compare"
