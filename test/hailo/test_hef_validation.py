"""`validate`: HEF header checks, stream checks against the camera's expectation, HailoRT path and drift."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from mars_hailo.errors import HefValidationError
from mars_hailo.hef_validation import (HefDescription, HefExpectation, StreamInfo, description_path,
                                                      read_hef_header, validate_hef)
from mars_hailo.quantization_drift import (FrameOutputs, feature_cosine, match_detections,
                                                          measure_drift, run_onnx)

pytestmark = pytest.mark.hailo

EXP = HefExpectation(input_hw=(64, 64), num_classes=2, nms=False, hw_arch="hailo8", feature_channels=16)


def _hef_bytes(payload: bytes = b"payload", version: int = 0) -> bytes:
    return struct.pack(">IIII", 0x01484546, version, len(payload), 0) + hashlib.md5(payload).digest() + payload


def _raw_heads_description(hef: Path, arch: str = "hailo8", feature_shape: tuple[int, ...] = (8, 8, 16)) -> None:
    outs = []
    for k, s in enumerate((8, 16, 32)):
        g = 64 // s
        outs.append(StreamInfo(f"n/conv{2 * k + 1}", (g, g, 64), "UINT8", "NHWC", "box", s))
        outs.append(StreamInfo(f"n/conv{2 * k + 2}", (g, g, 2), "UINT8", "NHWC", "cls", s))
    outs.append(StreamInfo("n/ew_mult7", feature_shape, "UINT8", "NHWC", "features", 8))
    desc = HefDescription(str(hef), "description", arch, "n", (StreamInfo("n/input_layer1", (64, 64, 3), "UINT8",
                                                                           "NHWC"),), tuple(outs))
    description_path(hef).write_text(json.dumps(desc.to_dict()))


def test_header_checks(tmp_path: Path) -> None:
    good = tmp_path / "good.hef"
    good.write_bytes(_hef_bytes())
    h = read_hef_header(good)
    assert h.version == 0 and h.proto_size == 7 and h.md5_ok
    cases = {"magic": b"\x00" + _hef_bytes()[1:], "truncated": _hef_bytes()[:-2],
             "MD5": _hef_bytes()[:-1] + b"X", "too short": b"\x01HEF"}
    for what, data in cases.items():
        p = tmp_path / f"{what.replace(' ', '_')}.hef"
        p.write_bytes(data)
        with pytest.raises(HefValidationError, match=what if what != "too short" else "too short"):
            read_hef_header(p)


def test_description_matches_expectation(tmp_path: Path) -> None:
    hef = tmp_path / "m.hef"
    hef.write_bytes(_hef_bytes())
    _raw_heads_description(hef)
    rep = validate_hef(hef, EXP, use_hailort=False)
    assert rep.ok, rep.to_text()
    assert any("box output stride 32" in c for c in rep.checked)


@pytest.mark.parametrize("change,expected", [
    ({"hw_arch": "hailo8l"}, "does not run on a hailo8l"),
    ({"nms": True}, "expected one NMS output"),
    ({"input_hw": (96, 96)}, "expected [96, 96, 3]"),
    ({"num_classes": 3}, "expected one cls output"),
    ({"feature_channels": 32}, "feature output n/ew_mult7 shape [8, 8, 16], expected [8, 8, 32]"),
])
def test_mismatches_are_named(tmp_path: Path, change: dict, expected: str) -> None:
    hef = tmp_path / "m.hef"
    hef.write_bytes(_hef_bytes())
    _raw_heads_description(hef)
    rep = validate_hef(hef, dataclasses.replace(EXP, **change), use_hailort=False)
    assert not rep.ok and any(expected in p for p in rep.problems), rep.problems


def test_missing_description_and_missing_file(tmp_path: Path) -> None:
    hef = tmp_path / "m.hef"
    hef.write_bytes(_hef_bytes())
    rep = validate_hef(hef, EXP, use_hailort=False)
    assert not rep.ok and "m.hef.json does not exist" in rep.problems[0]
    rep = validate_hef(tmp_path / "none.hef", EXP, use_hailort=False)
    assert "none.hef does not exist" in rep.problems[0]


def test_drift_metrics_on_known_values() -> None:
    a = FrameOutputs(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([0.9, 0.8], np.float32),
                     np.array([0, 1], np.int32), None)
    shifted = FrameOutputs(a.xyxy + np.array([1, 0, 1, 0], np.float32), np.array([0.8, 0.5], np.float32),
                           np.array([0, 0], np.int32), None)  # second box changed class: no match
    m = match_detections(a, shifted)
    assert m["matched"] == 1 and m["box_agreement"] == pytest.approx(0.5)
    assert m["score_error"] == pytest.approx(0.1) and m["mean_iou"] == pytest.approx(90 / 110)
    f = np.zeros((2, 2, 3), np.float32)
    f[..., 0] = 1
    g = f.copy()
    g[0, 0] = [0, 1, 0]
    assert feature_cosine(f, g) == pytest.approx(0.75)


@pytest.fixture
def fake_hailort(fake_dfc: Path) -> object:
    sys.modules.pop("hailo_platform", None)
    pytest.importorskip("hailo_platform._fake_control")
    import hailo_platform._fake_control as fc

    fc.STATE.reset()
    return fc


@pytest.mark.parametrize("nms_on_chip", [False, True])
def test_hailort_path_and_quantization_drift(fake_hailort, v8_onnx: Path, tmp_path: Path, nms_on_chip: bool) -> None:
    hef = tmp_path / "m.hef"
    fake_hailort.write_fake_hef(str(hef), str(v8_onnx), nms_on_chip=nms_on_chip)
    exp = dataclasses.replace(EXP, nms=nms_on_chip, hw_arch=None)
    rep = validate_hef(hef, exp)
    assert rep.ok, rep.to_text()
    assert rep.description.source == "hailort" and "HEF read by HailoRT" in rep.checked
    imgs = list(np.random.default_rng(3).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    ref = run_onnx(v8_onnx, imgs, "features", 0.2, 0.7)
    assert sum(len(r.scores) for r in ref) > 0  # the comparison is not vacuous
    drift = measure_drift(v8_onnx, hef, imgs, exp, "features", 0.2, 0.7)
    assert drift["images"] == 3
    assert drift["box_agreement"] > 0.9 and drift["feature_cosine"] > 0.99
    assert drift["score_error"] < 0.02
    wrong = validate_hef(hef, dataclasses.replace(exp, nms=not nms_on_chip))
    assert not wrong.ok


def test_equal_shapes_told_apart_by_original_names() -> None:
    from mars_hailo.hef_validation import assign_roles

    exp = HefExpectation((64, 64), 2, False, original_roles=(("/model.22/cv2.0/cv2.0.2/Conv", "box"),
                                                               ("/model.15/cv2/act/Mul", "features")))
    feat = StreamInfo("n/conv9", (8, 8, 64), "UINT8", "NHWC", original_names=("/model.15/cv2/act/Mul",))
    box = StreamInfo("n/conv1", (8, 8, 64), "UINT8", "NHWC", original_names=("/model.22/cv2.0/cv2.0.2/Conv",))
    roles = {s.name: s.role for s in assign_roles([feat, box], exp)}
    assert roles == {"n/conv9": "features", "n/conv1": "box"}


DEFAULT_MODELS = sorted((Path(__file__).resolve().parents[2] / "models" / "detector").glob("*.onnx"))


@pytest.mark.skipif(not DEFAULT_MODELS, reason="the default detector model is not built yet")
def test_default_model_raw_heads_through_hailort(fake_hailort, tmp_path: Path) -> None:
    """YOLOv8n: the 64-channel stride-8 feature map has the box head's shape; roles come from original names."""
    from mars_hailo.config import compile_config_from_dict
    from mars_hailo.onnx_layout import inspect_onnx
    from mars_hailo.pipeline import expectation_for

    onnx_path = DEFAULT_MODELS[0]
    lay = inspect_onnx(onnx_path)
    if lay.feature_node is None:
        pytest.skip("default model has no feature output")
    hef = tmp_path / "d.hef"
    fake_hailort.write_fake_hef(str(hef), str(onnx_path), nms_on_chip=False)
    exp = expectation_for(compile_config_from_dict({"nms": {"enabled": False}}), lay, lay.input_hw)
    rep = validate_hef(hef, dataclasses.replace(exp, hw_arch=None))
    assert rep.ok, rep.to_text()
    h, w = lay.input_hw
    imgs = list(np.random.default_rng(5).integers(0, 256, (2, h, w, 3), dtype=np.uint8))
    drift = measure_drift(onnx_path, hef, imgs, dataclasses.replace(exp, hw_arch=None), "features", 0.2, 0.7)
    assert drift["feature_cosine"] > 0.99
