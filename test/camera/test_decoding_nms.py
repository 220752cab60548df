"""YOLOv8 decoding (stock output and raw DFL heads), class-aware NMS, on-chip NMS parsing."""
from __future__ import annotations

import numpy as np
import pytest

from mars_camera.yolo.decoding import BoxCandidates, decode_decoded_output, decode_raw_heads, dfl_distances
from mars_camera.yolo.hailo_nms import encode_nms_by_class, parse_nms_by_class
from mars_camera.yolo.nms import box_iou, class_aware_nms, filter_candidates
from onnx_heads import run_with_heads


def test_raw_head_decoding_equals_the_models_own_decode(model_path):
    """DFL + anchor grid + strides on the raw head convs reproduce ultralytics' in-graph decode, anchor by anchor."""
    x = np.random.default_rng(3).random((1, 3, 320, 320), dtype=np.float32)
    output0, boxes, classes = run_with_heads(model_path, x)
    stock = decode_decoded_output(output0)
    raw = decode_raw_heads(boxes, classes, [8, 16, 32], scores_are_logits=True)
    assert raw.xyxy.shape == stock.xyxy.shape == (2100, 4)
    np.testing.assert_allclose(raw.xyxy, stock.xyxy, atol=2e-3)
    np.testing.assert_allclose(raw.class_scores, stock.class_scores, atol=1e-5)


def test_threshold_inside_raw_decoding_keeps_exactly_the_anchors_above_it(model_path):
    x = np.random.default_rng(4).random((1, 3, 320, 320), dtype=np.float32)
    _, boxes, classes = run_with_heads(model_path, x)
    full = decode_raw_heads(boxes, classes, [8, 16, 32])
    thr = float(np.quantile(full.class_scores.max(axis=1), 0.9))
    part = decode_raw_heads(boxes, classes, [8, 16, 32], score_threshold=thr)
    keep = full.class_scores.max(axis=1) > thr
    assert part.xyxy.shape[0] == keep.sum() > 0
    np.testing.assert_allclose(part.xyxy, full.xyxy[keep], atol=1e-4)


def test_quantized_heads_dequantize_with_scale_and_zero_point():
    rng = np.random.default_rng(0)
    box = rng.normal(size=(4, 4, 64)).astype(np.float32)
    cls = rng.normal(size=(4, 4, 1)).astype(np.float32)
    bs, bz, cs, cz = 0.05, 120.0, 0.04, 100.0
    qbox = np.clip(np.rint(box / bs + bz), 0, 255).astype(np.uint8)
    qcls = np.clip(np.rint(cls / cs + cz), 0, 255).astype(np.uint8)
    ref = decode_raw_heads([(qbox.astype(np.float32) - bz) * bs], [(qcls.astype(np.float32) - cz) * cs], [8])
    got = decode_raw_heads([qbox], [qcls], [8], box_quant=[(bs, bz)], class_quant=[(cs, cz)])
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=1e-4)
    np.testing.assert_allclose(got.class_scores, ref.class_scores, atol=1e-6)


def test_dfl_of_a_one_hot_distribution_is_its_bin():
    logits = np.full((1, 64), -50.0, np.float32)
    for side, b in enumerate([3, 0, 7, 15]):
        logits[0, side * 16 + b] = 50.0
    np.testing.assert_allclose(dfl_distances(logits)[0], [3, 0, 7, 15], atol=1e-4)


def _reference_nms(boxes, scores, classes, thr):
    """Plain greedy per-class NMS, written independently (pairwise loop)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        ok = True
        for j in kept:
            if classes[i] != classes[j]:
                continue
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union > 0 and inter / union > thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_aware_nms_matches_a_plain_reference(seed):
    rng = np.random.default_rng(seed)
    n = 300
    centres = rng.uniform(0, 320, size=(n, 2))
    sizes = rng.uniform(5, 60, size=(n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    scores = rng.permutation(np.linspace(0.05, 0.99, n)).astype(np.float32)  # distinct: no tie ambiguity
    classes = rng.integers(0, 3, n).astype(np.int32)
    got = class_aware_nms(boxes, scores, classes, 0.45, max_detections=1000)
    assert list(got) == _reference_nms(boxes, scores, classes, 0.45)
    assert len(class_aware_nms(boxes, scores, classes, 0.45, max_detections=7)) == 7


def test_opencv_and_numpy_sweeps_agree_with_the_reference():
    rng = np.random.default_rng(5)
    n = 400
    centres = rng.uniform(0, 320, size=(n, 2))
    sizes = rng.uniform(5, 60, size=(n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    scores = rng.permutation(np.linspace(0.05, 0.99, n)).astype(np.float32)
    classes = rng.integers(0, 2, n).astype(np.int32)
    cv = class_aware_nms(boxes, scores, classes, 0.3, max_detections=1000, use_opencv=True)
    rows = class_aware_nms(boxes, scores, classes, 0.3, max_detections=1000, use_opencv=False)
    assert rows.tolist() == cv.tolist() == _reference_nms(boxes, scores, classes, 0.3)
    assert class_aware_nms(boxes, scores, classes, 0.3, max_detections=5, use_opencv=True).tolist() == cv[:5].tolist()


def test_boxes_of_different_classes_never_suppress_each_other():
    boxes = np.array([[10, 10, 50, 50], [10, 10, 50, 50]], np.float32)
    kept = class_aware_nms(boxes, np.array([0.9, 0.8], np.float32), np.array([0, 1], np.int32), 0.5)
    assert sorted(kept.tolist()) == [0, 1]
    kept = class_aware_nms(boxes, np.array([0.9, 0.8], np.float32), np.array([0, 0], np.int32), 0.5)
    assert kept.tolist() == [0]


def test_filter_keeps_best_class_above_threshold_and_in_the_class_filter():
    xyxy = np.arange(16, dtype=np.float32).reshape(4, 4)
    scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.1, 0.6], [0.05, 0.02]], np.float32)
    b, s, c = filter_candidates(BoxCandidates(xyxy, scores), 0.25)
    assert c.tolist() == [0, 1, 1] and s.tolist() == pytest.approx([0.9, 0.3, 0.6])
    b, s, c = filter_candidates(BoxCandidates(xyxy, scores), 0.25, class_filter=[1])
    assert c.tolist() == [1, 1] and b[0].tolist() == xyxy[1].tolist()


def test_box_iou_known_values():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]]))
    np.testing.assert_allclose(iou[0], [1 / 3, 0.0, 1.0], atol=1e-6)


def test_on_chip_nms_format_is_y_first_and_normalised():
    per_class = [np.array([[0.1, 0.2, 0.5, 0.6, 0.9], [0.0, 0.0, 0.1, 0.1, 0.1]], np.float32),
                 np.zeros((0, 5), np.float32),
                 np.array([[0.25, 0.5, 0.75, 1.0, 0.95]], np.float32)]
    xyxy, scores, classes = parse_nms_by_class(per_class, 320, 160, score_threshold=0.2)
    assert classes.tolist() == [2, 0]
    np.testing.assert_allclose(scores, [0.95, 0.9])
    np.testing.assert_allclose(xyxy[0], [160, 40, 320, 120])   # x from column 1/3, y from column 0/2
    np.testing.assert_allclose(xyxy[1], [64, 16, 192, 80])
    back = encode_nms_by_class(xyxy, scores, classes, 3, 320, 160)
    np.testing.assert_allclose(back[0][0], per_class[0][0], atol=1e-6)
