"""`export`: fixed input size, DFC opset, and the feature output added at the stride-8 neck."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mars_hailo.errors import OnnxLayoutError
from mars_hailo.onnx_export import export_onnx
from yolo_onnx_graphs import build_yolov8_like

pytestmark = pytest.mark.hailo


def _run(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"images": x})))


def test_adds_feature_output_without_changing_detections(tmp_path: Path) -> None:
    src = build_yolov8_like(tmp_path / "stock.onnx", with_features=False)
    out = tmp_path / "mars.onnx"
    lay = export_onnx(src, out, (64, 64))
    assert lay.feature_node == "/model.15/cv2/act/Mul" and lay.feature_output == "features"
    assert lay.end_node_names()[-1] == "/model.15/cv2/act/Mul"
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    before, after = _run(src, x), _run(out, x)
    np.testing.assert_array_equal(before["output0"], after["output0"])
    assert after["features"].shape == (1, 16, 8, 8)
    model = onnx.load(str(out))
    assert [o.name for o in model.graph.output] == ["output0", "features"]
    assert model.opset_import[0].version == 17


def test_explicit_feature_node(tmp_path: Path) -> None:
    src = build_yolov8_like(tmp_path / "stock.onnx", with_features=False)
    lay = export_onnx(src, tmp_path / "m.onnx", (64, 64), feature_node="/model.18/cv2/act/Mul")
    assert lay.feature_node == "/model.18/cv2/act/Mul" and lay.feature_stride == 16


def test_dynamic_input_is_fixed(tmp_path: Path) -> None:
    src = build_yolov8_like(tmp_path / "stock.onnx")
    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "batch", "height", "width"
    onnx.save(model, str(src))
    lay = export_onnx(src, tmp_path / "m.onnx", (64, 64))
    assert lay.input_shape == (1, 3, 64, 64)


def test_wrong_fixed_size_names_the_fix(tmp_path: Path) -> None:
    src = build_yolov8_like(tmp_path / "stock.onnx")
    with pytest.raises(OnnxLayoutError, match="--imgsz 320 320"):
        export_onnx(src, tmp_path / "m.onnx", (320, 320))


def test_unknown_feature_node(tmp_path: Path) -> None:
    src = build_yolov8_like(tmp_path / "stock.onnx", with_features=False)
    with pytest.raises(OnnxLayoutError, match="/model.99/nothing"):
        export_onnx(src, tmp_path / "m.onnx", (64, 64), feature_node="/model.99/nothing")


def test_pt_needs_ultralytics_or_says_so(tmp_path: Path) -> None:
    pt = tmp_path / "best.pt"
    pt.write_bytes(b"not really weights")
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        with pytest.raises(OnnxLayoutError, match="ultralytics"):
            export_onnx(pt, tmp_path / "m.onnx", (64, 64))
    else:
        with pytest.raises(Exception):
            export_onnx(pt, tmp_path / "m.onnx", (64, 64))


def test_bad_opset(tmp_path: Path) -> None:
    src = build_yolov8_like(tmp_path / "stock.onnx")
    with pytest.raises(OnnxLayoutError, match="opset 21"):
        export_onnx(src, tmp_path / "m.onnx", (64, 64), opset=21)
