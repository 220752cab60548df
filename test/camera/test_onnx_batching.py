"""Offline batching: the batch-1 export run on several frames at once gives every frame the same outputs, and
FrameDetector.detect_batch the same detections, bit for bit, as detect() one frame at a time."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors.onnx_batching import batch_axis_is_fixed, dynamic_batch_model
from mars_camera.frame_detector import FrameDetector
from mars_camera.frame_sources.base import Frame


def test_the_batch_axis_opens_and_every_frame_keeps_its_outputs(model_path):
    assert batch_axis_is_fixed(onnx.load(model_path))
    batched = dynamic_batch_model(model_path)
    assert not batch_axis_is_fixed(onnx.load_from_string(batched))
    one = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    many = ort.InferenceSession(batched, providers=["CPUExecutionProvider"])
    name = one.get_inputs()[0].name
    _, _, h, w = one.get_inputs()[0].shape
    x = np.random.default_rng(0).integers(0, 256, (5, 3, h, w)).astype(np.float32) / np.float32(255)
    outputs = many.run(None, {name: x})
    for i in range(5):
        for got, want in zip(outputs, one.run(None, {name: x[i:i + 1]})):
            np.testing.assert_array_equal(got[i:i + 1], want)


def test_an_already_dynamic_model_is_used_as_it_is(model_path, tmp_path):
    path = tmp_path / "dynamic.onnx"
    path.write_bytes(dynamic_batch_model(model_path))
    assert dynamic_batch_model(path) == onnx.load(str(path)).SerializeToString()


def test_detect_batch_gives_each_frame_the_detections_of_detect(model_path, rendered_images):
    config = CameraDetectorConfig(backend="onnx", model_path=model_path)
    single = FrameDetector(config, camera_name="cam_left")
    batched = FrameDetector(config, camera_name="cam_left", max_batch=3)
    try:
        assert batched.backend.max_batch == 3 and single.backend.max_batch == 1
        frames = [Frame(image, 1_700_000_000_000_000_000 + k * 33_000_000, k)
                  for k, image in enumerate(list(rendered_images) * 2)]      # 2 full batches and a partial one
        results = batched.detect_batch(frames)
        assert len(results) == len(frames)
        total = 0
        for frame, result in zip(frames, results):
            want = single.detect(frame).frame
            got = result.frame
            assert (got.stamp_ns, got.frame_number) == (want.stamp_ns, want.frame_number)
            for a, b in ((got.detections.xyxy, want.detections.xyxy), (got.detections.scores, want.detections.scores),
                         (got.detections.class_ids, want.detections.class_ids),
                         (got.detections.features, want.detections.features)):
                np.testing.assert_array_equal(a, b)
            total += len(got.detections)
        assert total > 0
    finally:
        single.backend.close()
        batched.backend.close()
