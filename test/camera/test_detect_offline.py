"""mars-detect: images in, a bag of FlowerDetectionArray out (read back with the lead's bag reader)."""
from __future__ import annotations

import cv2
import numpy as np

from mars_camera.detect_offline import main
from mars_ros.bags.bag_files import read_detection_frames


def test_folder_to_detection_bag(tmp_path, model_path, rendered_images, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i:03d}.png"), rendered_images[0])
    out = tmp_path / "dets"
    code = main(["--source", "folder", "--uri", str(images), "--rate", "5", "--camera", "cam_left",
                 "--out", str(out), "--set", f"model_path={model_path}",
                 "--set", "backend=onnx"])
    assert code == 0, capsys.readouterr().err
    frames = [f for _, f in read_detection_frames(out)]
    assert [f.frame_number for f in frames] == [0, 1, 2]
    assert frames[1].stamp_ns - frames[0].stamp_ns == 200_000_000
    assert frames[0].camera_name == "cam_left" and frames[0].image_width == rendered_images[0].shape[1]
    d = frames[0].detections
    assert len(d) >= 3 and d.features is not None and d.features.shape[1] == 64
    np.testing.assert_allclose(frames[2].detections.xyxy, d.xyxy, atol=0.01)  # same image, same boxes
    assert d.feature_model_id.startswith("flower_yolov8n-")


def test_bad_setting_is_reported_and_nothing_written(tmp_path, capsys):
    code = main(["--source", "folder", "--uri", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--set", "iou_threshold=2"])
    assert code == 2 and "iou_threshold" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
