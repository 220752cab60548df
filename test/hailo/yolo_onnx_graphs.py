"""Small ONNX graphs that mimic ultralytics YOLOv5 / YOLOv8 / YOLO11 exports node for node in the head.

Names follow the real exports (`/model.22/cv2.0/cv2.0.2/Conv`, `/model.23/cv3.0/cv3.0.0/cv3.0.0.0/conv/Conv`,
`/model.24/m.0/Conv`, the DFL tail `/model.22/dfl/...`), the backbone is shrunk to a few strided convs, and an
extra graph output `features` (a stride-8 neck map, like `/model.15/cv2/act/Mul` of YOLOv8n) is added the way
`mars-hailo export` adds it. The graphs are valid and run in onnxruntime.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, seed: int = 0) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, name: str, inputs: list[str], out: str | None = None, **attrs: object) -> str:
        out = out or f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv_raw(self, name: str, x: str, cin: int, cout: int, k: int = 1, s: int = 1, group: int = 1,
                 out: str | None = None) -> str:
        w = self.const(f"{name}.weight", (self.rng.standard_normal((cout, cin // group, k, k)) * 0.2)
                       .astype(np.float32))
        b = self.const(f"{name}.bias", (self.rng.standard_normal(cout) * 0.1).astype(np.float32))
        return self.node("Conv", name, [x, w, b], out, kernel_shape=[k, k], strides=[s, s],
                         pads=[k // 2] * 4, group=group)

    def conv(self, prefix: str, x: str, cin: int, cout: int, k: int = 1, s: int = 1, group: int = 1,
             out: str | None = None) -> str:
        """ultralytics Conv module: conv (BN fused) + SiLU as Sigmoid*Mul."""
        y = self.conv_raw(f"{prefix}/conv/Conv", x, cin, cout, k, s, group)
        sg = self.node("Sigmoid", f"{prefix}/act/Sigmoid", [y])
        return self.node("Mul", f"{prefix}/act/Mul", [y, sg], out)


def _backbone(b: _Builder, size: int, p3_module: str, feature_in_graph: bool) -> tuple[str, str, str]:
    x = b.conv("/model.0", "images", 3, 8, 3, 2)
    x = b.conv("/model.1", x, 8, 16, 3, 2)
    p3 = b.conv("/model.2", x, 16, 16, 3, 2)
    p4 = b.conv("/model.3", p3, 16, 16, 3, 2)
    p5 = b.conv("/model.4", p4, 16, 16, 3, 2)
    # Neck outputs: the stride-8 one is the feature map the camera node pools from.
    n3 = b.conv(p3_module, p3, 16, 16, 1, 1, out="features" if feature_in_graph else None)
    n4 = b.conv("/model.18/cv2", p4, 16, 16, 1, 1)
    n5 = b.conv("/model.21/cv2", p5, 16, 16, 1, 1)
    return n3, n4, n5


def _anchors(size: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    pts, st = [], []
    for s in strides:
        g = size // s
        ys, xs = np.meshgrid(np.arange(g) + 0.5, np.arange(g) + 0.5, indexing="ij")
        pts.append(np.stack([xs.ravel(), ys.ravel()]))
        st.append(np.full(g * g, s))
    return (np.concatenate(pts, 1)[None].astype(np.float32), np.concatenate(st)[None].astype(np.float32))


def build_yolov8_like(path: Path, family: str = "yolov8", num_classes: int = 2, size: int = 64,
                      with_features: bool = True, feature_via_identity: bool = False) -> Path:
    """A YOLOv8 (Detect at /model.22) or YOLO11 (Detect at /model.23, depthwise class branch) export."""
    b = _Builder(1 if family == "yolov8" else 2)
    det = "/model.22" if family == "yolov8" else "/model.23"
    feat_direct = with_features and not feature_via_identity
    necks = _backbone(b, size, "/model.15/cv2" if family == "yolov8" else "/model.16/cv2", feat_direct)
    reg_max, c2, c3 = 16, 16, 16
    per_scale = []
    for i, x in enumerate(necks):
        bx = b.conv(f"{det}/cv2.{i}/cv2.{i}.0", x, 16, c2, 3)
        bx = b.conv(f"{det}/cv2.{i}/cv2.{i}.1", bx, c2, c2, 3)
        bx = b.conv_raw(f"{det}/cv2.{i}/cv2.{i}.2/Conv", bx, c2, 4 * reg_max)
        if family == "yolov8":
            cx = b.conv(f"{det}/cv3.{i}/cv3.{i}.0", x, 16, c3, 3)
            cx = b.conv(f"{det}/cv3.{i}/cv3.{i}.1", cx, c3, c3, 3)
        else:
            cx = b.conv(f"{det}/cv3.{i}/cv3.{i}.0/cv3.{i}.0.0", x, 16, 16, 3, group=16)
            cx = b.conv(f"{det}/cv3.{i}/cv3.{i}.0/cv3.{i}.0.1", cx, 16, c3, 1)
            cx = b.conv(f"{det}/cv3.{i}/cv3.{i}.1/cv3.{i}.1.0", cx, c3, c3, 3, group=c3)
            cx = b.conv(f"{det}/cv3.{i}/cv3.{i}.1/cv3.{i}.1.1", cx, c3, c3, 1)
        cx = b.conv_raw(f"{det}/cv3.{i}/cv3.{i}.2/Conv", cx, c3, num_classes)
        cat = b.node("Concat", f"{det}/Concat" + (f"_{i}" if i else ""), [bx, cx], axis=1)
        shape = b.const(f"{det}/Constant_{i}_output_0", np.array([1, 4 * reg_max + num_classes, -1], np.int64))
        per_scale.append(b.node("Reshape", f"{det}/Reshape" + (f"_{i}" if i else ""), [cat, shape]))
    allc = b.node("Concat", f"{det}/Concat_3", per_scale, axis=2)
    split = b.const(f"{det}/Constant_3_output_0", np.array([4 * reg_max, num_classes], np.int64))
    box_t, cls_t = f"{det}/Split_output_0", f"{det}/Split_output_1"
    b.nodes.append(helper.make_node("Split", [allc, split], [box_t, cls_t], name=f"{det}/Split", axis=1))
    a = sum((size // s) ** 2 for s in (8, 16, 32))
    r = b.node("Reshape", f"{det}/dfl/Reshape", [box_t, b.const(f"{det}/dfl/Constant_output_0",
                                                                 np.array([1, 4, reg_max, a], np.int64))])
    t = b.node("Transpose", f"{det}/dfl/Transpose", [r], perm=[0, 2, 1, 3])
    sm = b.node("Softmax", f"{det}/dfl/Softmax", [t], axis=1)
    dflw = b.const(f"model.{det[7:]}.dfl.conv.weight", np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1))
    dc = b.node("Conv", f"{det}/dfl/conv/Conv", [sm, dflw], kernel_shape=[1, 1])
    d = b.node("Reshape", f"{det}/dfl/Reshape_1", [dc, b.const(f"{det}/dfl/Constant_1_output_0",
                                                              np.array([1, 4, a], np.int64))])
    axes = b.const(f"{det}/Constant_4_output_0", np.array([1], np.int64))
    lt = b.node("Slice", f"{det}/Slice", [d, b.const(f"{det}/Constant_5_output_0", np.array([0], np.int64)),
                                          b.const(f"{det}/Constant_6_output_0", np.array([2], np.int64)), axes])
    rb = b.node("Slice", f"{det}/Slice_1", [d, b.const(f"{det}/Constant_7_output_0", np.array([2], np.int64)),
                                            b.const(f"{det}/Constant_8_output_0", np.array([4], np.int64)), axes])
    anc, strides = _anchors(size, (8, 16, 32))
    anc_t = b.const(f"{det}/Constant_9_output_0", anc)
    x1y1 = b.node("Sub", f"{det}/Sub", [anc_t, lt])
    x2y2 = b.node("Add", f"{det}/Add_1", [anc_t, rb])
    c = b.node("Div", f"{det}/Div_1", [b.node("Add", f"{det}/Add_2", [x1y1, x2y2]),
                                       b.const(f"{det}/Constant_10_output_0", np.array(2.0, np.float32))])
    wh = b.node("Sub", f"{det}/Sub_1", [x2y2, x1y1])
    xywh = b.node("Concat", f"{det}/Concat_4", [c, wh], axis=1)
    boxes = b.node("Mul", f"{det}/Mul_2", [xywh, b.const(f"{det}/Constant_11_output_0", strides)])
    scores = b.node("Sigmoid", f"{det}/Sigmoid", [cls_t])
    b.node("Concat", f"{det}/Concat_5", [boxes, scores], out="output0", axis=1)
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + num_classes, a])]
    if with_features:
        if feature_via_identity:
            b.node("Identity", "/features/Identity", [necks[0]], out="features")
        outputs.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 16, size // 8, size // 8]))
    return _save(b, path, size, outputs)


def build_yolov5_like(path: Path, num_classes: int = 2, size: int = 64, with_features: bool = True) -> Path:
    """A YOLOv5 (anchor-based, Detect at /model.24 with convs /model.24/m.i/Conv) export."""
    b = _Builder(3)
    necks = _backbone(b, size, "/model.17/cv3", with_features)
    na, no = 3, 5 + num_classes
    flat = []
    for i, x in enumerate(necks):
        g = size // (8 * 2 ** i)
        y = b.conv_raw(f"/model.24/m.{i}/Conv", x, 16, na * no)
        r = b.node("Reshape", "/model.24/Reshape" + (f"_{2 * i}" if i else ""),
                   [y, b.const(f"/model.24/Constant_{2 * i}_output_0", np.array([1, na, no, g, g], np.int64))])
        t = b.node("Transpose", "/model.24/Transpose" + (f"_{i}" if i else ""), [r], perm=[0, 1, 3, 4, 2])
        s = b.node("Sigmoid", "/model.24/Sigmoid" + (f"_{i}" if i else ""), [t])
        flat.append(b.node("Reshape", f"/model.24/Reshape_{2 * i + 1}",
                           [s, b.const(f"/model.24/Constant_{2 * i + 1}_output_0", np.array([1, -1, no], np.int64))]))
    b.node("Concat", "/model.24/Concat", flat, out="output0", axis=1)
    a = na * sum((size // s) ** 2 for s in (8, 16, 32))
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, a, no])]
    if with_features:
        outputs.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 16, size // 8, size // 8]))
    return _save(b, path, size, outputs)


def _save(b: _Builder, path: Path, size: int, outputs: list[onnx.ValueInfoProto]) -> Path:
    graph = helper.make_graph(b.nodes, "main_graph",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
