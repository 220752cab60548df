"""`inspect`: the parser's start/end nodes found without a human, for YOLOv5 / YOLOv8 / YOLO11 layouts."""
from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from mars_hailo.errors import OnnxLayoutError
from mars_hailo.onnx_layout import format_layout_report, inspect_onnx
from yolo_onnx_graphs import build_yolov8_like

pytestmark = pytest.mark.hailo

ROOT = Path(__file__).resolve().parents[2]


def test_yolov8_end_nodes_and_feature(v8_onnx: Path) -> None:
    lay = inspect_onnx(v8_onnx)
    assert lay.family == "yolov8" and lay.detect_index == 22
    assert lay.input_name == "images" and lay.input_shape == (1, 3, 64, 64)
    assert lay.num_classes == 2 and lay.reg_max == 16
    assert [s.stride for s in lay.scales] == [8, 16, 32]
    assert lay.end_node_names() == [
        "/model.22/cv2.0/cv2.0.2/Conv", "/model.22/cv3.0/cv3.0.2/Conv",
        "/model.22/cv2.1/cv2.1.2/Conv", "/model.22/cv3.1/cv3.1.2/Conv",
        "/model.22/cv2.2/cv2.2.2/Conv", "/model.22/cv3.2/cv3.2.2/Conv", "/model.15/cv2/act/Mul"]
    assert lay.feature_shape == (1, 16, 8, 8) and lay.feature_stride == 8
    kw = lay.translate_kwargs("net", (32, 32))
    assert kw["start_node_names"] == ["images"] and kw["net_input_shapes"] == {"images": [1, 3, 32, 32]}
    nms = lay.nms_config(0.3, 0.6, 50, {"/model.22/cv2.0/cv2.0.2/Conv": "net/conv41"})
    assert nms["classes"] == 2 and nms["regression_length"] == 16 and nms["image_dims"] == [64, 64]
    assert nms["bbox_decoders"][0]["reg_layer"] == "net/conv41"
    assert nms["bbox_decoders"][2] == {"name": "bbox_decoder2", "stride": 32,
                                       "reg_layer": "/model.22/cv2.2/cv2.2.2/Conv",
                                       "cls_layer": "/model.22/cv3.2/cv3.2.2/Conv"}
    assert not lay.warnings


def test_yolo11_detected_by_depthwise_class_branch(v11_onnx: Path) -> None:
    lay = inspect_onnx(v11_onnx)
    assert lay.family == "yolo11" and lay.detect_index == 23 and lay.num_classes == 3
    assert lay.head_end_nodes()[:2] == ["/model.23/cv2.0/cv2.0.2/Conv", "/model.23/cv3.0/cv3.0.2/Conv"]
    assert lay.feature_node == "/model.16/cv2/act/Mul"
    assert "meta_arch=yolov8" in format_layout_report(lay, "n")  # Hailo decodes YOLO11 with the v8 decoder


def test_yolov5_anchor_heads(v5_onnx: Path) -> None:
    lay = inspect_onnx(v5_onnx)
    assert lay.family == "yolov5" and lay.num_anchors == 3 and lay.num_classes == 4 and lay.reg_max is None
    assert lay.end_node_names() == ["/model.24/m.0/Conv", "/model.24/m.1/Conv", "/model.24/m.2/Conv",
                                    "/model.17/cv3/act/Mul"]
    dec = lay.nms_config(0.2, 0.7, 100)["bbox_decoders"]
    assert [d["stride"] for d in dec] == [8, 16, 32] and dec[0]["encoded_layer"] == "/model.24/m.0/Conv"


def test_feature_behind_identity_resolves_to_producer(tmp_path: Path) -> None:
    lay = inspect_onnx(build_yolov8_like(tmp_path / "m.onnx", feature_via_identity=True))
    assert lay.feature_node == "/model.15/cv2/act/Mul"


def test_missing_feature_output_warns_and_suggests_neck(tmp_path: Path) -> None:
    lay = inspect_onnx(build_yolov8_like(tmp_path / "m.onnx", with_features=False))
    assert lay.feature_node is None and any("features" in w for w in lay.warnings)
    assert lay.suggested_feature_node == "/model.15/cv2/act/Mul"
    assert "/model.15/cv2/act/Mul" not in lay.end_node_names()


def test_custom_feature_output_name(tmp_path: Path, v8_onnx: Path) -> None:
    assert inspect_onnx(v8_onnx, feature_output="embeddings").feature_node is None


def test_broken_head_is_rejected(tmp_path: Path, v8_onnx: Path) -> None:
    model = onnx.load(str(v8_onnx))
    # Cut the stride-16 class conv out: its consumer now reads the box conv twice.
    cls = next(n for n in model.graph.node if n.name == "/model.22/cv3.1/cv3.1.2/Conv")
    box = next(n for n in model.graph.node if n.name == "/model.22/cv2.1/cv2.1.2/Conv")
    for n in model.graph.node:
        for k, i in enumerate(n.input):
            if i == cls.output[0]:
                n.input[k] = box.output[0]
    model.graph.node.remove(cls)
    p = tmp_path / "broken.onnx"
    onnx.save(model, str(p))
    with pytest.raises(OnnxLayoutError, match="match no known layout"):
        inspect_onnx(p)


def test_unnamed_head_node_is_a_clear_error(tmp_path: Path, v8_onnx: Path) -> None:
    model = onnx.load(str(v8_onnx))
    next(n for n in model.graph.node if n.name == "/model.22/cv3.0/cv3.0.2/Conv").name = ""
    p = tmp_path / "unnamed.onnx"
    onnx.save(model, str(p))
    with pytest.raises(OnnxLayoutError, match="no node name"):
        inspect_onnx(p)


def test_dynamic_input_is_rejected(tmp_path: Path, v8_onnx: Path) -> None:
    model = onnx.load(str(v8_onnx))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    p = tmp_path / "dyn.onnx"
    onnx.save(model, str(p))
    with pytest.raises(OnnxLayoutError, match="fixed NCHW"):
        inspect_onnx(p)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(OnnxLayoutError, match="nope.onnx"):
        inspect_onnx(tmp_path / "nope.onnx")


@pytest.mark.skipif(not list((ROOT / "models" / "detector").glob("*.onnx")),
                    reason="the default detector model (models/detector/*.onnx) is not built yet")
def test_default_detector_model() -> None:
    from mars_hailo.onnx_export import export_onnx

    src = sorted((ROOT / "models" / "detector").glob("*.onnx"))[0]
    lay = inspect_onnx(src)
    if lay.feature_node is None:  # a stock export: add the feature output like `mars-hailo export` does
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            lay = export_onnx(src, Path(d) / "m.onnx", lay.input_hw)
    assert lay.family in ("yolov8", "yolo11")
    assert len(lay.head_end_nodes()) == 6 and lay.feature_stride == 8
    assert all(n.endswith("/Conv") for n in lay.head_end_nodes())
