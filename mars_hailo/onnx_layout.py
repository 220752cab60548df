"""Find, without a human, the start and end nodes the Hailo parser needs in a YOLO ONNX export.

The search is structural (names are only used for the report): the head's end nodes are the last
convolutions before the decode, i.e. Conv nodes with no trainable Conv downstream (the DFL conv, a fixed
1x1 conv over a softmax, is part of the decode). They are grouped by stride from ONNX shape inference and
checked against the known YOLOv5 (one anchor conv per scale), YOLOv8 and YOLO11 (a box conv with 4*reg_max
channels and a class conv per scale; YOLO11 has depthwise convs in the class branch) layouts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mars_hailo.errors import OnnxLayoutError, check_input_file

FAMILIES = ("yolov5", "yolov8", "yolo11")
# Hailo's NMS meta architectures: YOLO11 uses the YOLOv8 decoder (same DFL head).
NMS_META_ARCH = {"yolov5": "yolov5", "yolov8": "yolov8", "yolo11": "yolov8"}
# Opsets the Dataflow Compiler's ONNX parser is documented to accept (ultralytics exports 17 by default).
SUPPORTED_OPSETS = range(8, 18)
YOLOV5_DEFAULT_ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))
_MODEL_INDEX = re.compile(r"^/model\.(\d+)/")


@dataclass(frozen=True)
class HeadScale:
    """The end node(s) of one detection scale."""

    stride: int
    grid_hw: tuple[int, int]
    box_node: str | None  # YOLOv8/11: the 4*reg_max-channel regression conv
    cls_node: str | None  # YOLOv8/11: the class conv (num_classes channels)
    anchor_node: str | None = None  # YOLOv5: the single na*(5+nc)-channel conv

    def end_nodes(self) -> list[str]:
        """End nodes of this scale in the order the Hailo NMS expects (box before class)."""
        return [n for n in (self.anchor_node, self.box_node, self.cls_node) if n]


@dataclass(frozen=True)
class YoloLayout:
    """What `inspect` found: the parse arguments and the head description."""

    onnx_path: str
    family: str
    opset: int
    input_name: str
    input_shape: tuple[int, int, int, int]
    num_classes: int
    reg_max: int | None
    num_anchors: int | None
    detect_index: int | None
    scales: tuple[HeadScale, ...]
    feature_output: str | None
    feature_node: str | None
    feature_shape: tuple[int, ...] | None
    feature_stride: int | None
    suggested_feature_node: str | None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def input_hw(self) -> tuple[int, int]:
        """Model input (height, width)."""
        return (self.input_shape[2], self.input_shape[3])

    def head_end_nodes(self) -> list[str]:
        """The per-scale head convolutions, small stride first."""
        return [n for s in self.scales for n in s.end_nodes()]

    def end_node_names(self) -> list[str]:
        """All end nodes for the DFC parser: the head convs plus the feature node (if any)."""
        nodes = self.head_end_nodes()
        if self.feature_node:
            nodes.append(self.feature_node)
        return nodes

    def translate_kwargs(self, net_name: str, input_hw: tuple[int, int] | None = None) -> dict[str, Any]:
        """Keyword arguments for ``ClientRunner.translate_onnx_model`` (besides the model path)."""
        h, w = input_hw or self.input_hw
        return {
            "net_name": net_name,
            "start_node_names": [self.input_name],
            "end_node_names": self.end_node_names(),
            "net_input_shapes": {self.input_name: [1, 3, h, w]},
        }

    def nms_config(self, score_threshold: float, iou_threshold: float, max_proposals_per_class: int,
                   layer_names: dict[str, str] | None = None, input_hw: tuple[int, int] | None = None,
                   ) -> dict[str, Any]:
        """The Hailo NMS post-process JSON; layers are HN names when `layer_names` maps ONNX -> HN."""
        names = layer_names or {}
        h, w = input_hw or self.input_hw
        cfg: dict[str, Any] = {
            "nms_scores_th": score_threshold,
            "nms_iou_th": iou_threshold,
            "image_dims": [h, w],
            "max_proposals_per_class": max_proposals_per_class,
            "classes": self.num_classes,
            "background_removal": False,
            "background_removal_index": 0,
        }
        decoders = []
        for i, s in enumerate(self.scales):
            if self.family == "yolov5":
                node = s.anchor_node or ""
                anchors = YOLOV5_DEFAULT_ANCHORS[i] if i < len(YOLOV5_DEFAULT_ANCHORS) else ()
                decoders.append({"name": f"bbox_decoder{i}", "stride": s.stride,
                                 "w": list(anchors[0::2]), "h": list(anchors[1::2]),
                                 "encoded_layer": names.get(node, node)})
            else:
                box, cls = s.box_node or "", s.cls_node or ""
                decoders.append({"name": f"bbox_decoder{i}", "stride": s.stride,
                                 "reg_layer": names.get(box, box), "cls_layer": names.get(cls, cls)})
        if self.family != "yolov5":
            cfg["regression_length"] = self.reg_max
        cfg["bbox_decoders"] = decoders
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "onnx": self.onnx_path, "family": self.family, "opset": self.opset,
            "input_name": self.input_name, "input_shape": list(self.input_shape),
            "num_classes": self.num_classes, "reg_max": self.reg_max, "num_anchors": self.num_anchors,
            "detect_index": self.detect_index,
            "scales": [{"stride": s.stride, "grid_hw": list(s.grid_hw), "end_nodes": s.end_nodes()}
                       for s in self.scales],
            "feature_output": self.feature_output, "feature_node": self.feature_node,
            "feature_shape": list(self.feature_shape) if self.feature_shape else None,
            "feature_stride": self.feature_stride, "suggested_feature_node": self.suggested_feature_node,
            "end_node_names": self.end_node_names(), "warnings": list(self.warnings),
        }


class _Graph:
    """Indexes of an ONNX graph: producers, consumers, initialisers and inferred shapes."""

    def __init__(self, model: Any) -> None:
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # shape inference is best effort; fall back to declared shapes
            inferred = model
        g = inferred.graph
        self.graph = g
        self.nodes = list(g.node)
        self.init = {t.name: t for t in g.initializer}
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for n in self.nodes:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            dims = vi.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                self.shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
        self.index = {id(n): k for k, n in enumerate(self.nodes)}

    def weight(self, node: Any) -> np.ndarray | None:
        from onnx import numpy_helper

        if len(node.input) < 2 or node.input[1] not in self.init:
            return None
        return numpy_helper.to_array(self.init[node.input[1]])

    def attr(self, node: Any, name: str, default: Any) -> Any:
        import onnx

        for a in node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default

    def is_dfl_conv(self, node: Any) -> bool:
        """The DFL conv of YOLOv8/11: one output channel, fixed weights 0..reg_max-1, after a Softmax."""
        if node.op_type != "Conv":
            return False
        w = self.weight(node)
        if w is None or w.ndim != 4 or w.shape[0] != 1 or w.shape[2:] != (1, 1):
            return False
        return bool(np.allclose(w.reshape(-1), np.arange(w.shape[1])))

    def ancestors(self, node: Any) -> set[int]:
        seen: set[int] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            for t in n.input:
                p = self.producer.get(t)
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    stack.append(p)
        return seen


def _node_label(node: Any, what: str) -> str:
    if not node.name:
        raise OnnxLayoutError(f"the {what} ({node.op_type} producing {list(node.output)}) has no node name; the "
                              "Hailo parser addresses end nodes by name: re-export with node names (ultralytics "
                              "and torch.onnx.export name them)")
    return str(node.name)


def inspect_onnx(path: str | Path, feature_output: str = "features") -> YoloLayout:
    """Read an ONNX YOLO export and find the parse arguments for the Hailo Dataflow Compiler."""
    import onnx

    p = Path(path)
    check_input_file(p, "ONNX file", OnnxLayoutError, "an ONNX model")
    try:
        model = onnx.load(str(p))
    except Exception as exc:
        raise OnnxLayoutError(f"{p} is not a readable ONNX model: {exc}") from exc
    return inspect_model(model, str(p), feature_output)


def inspect_model(model: Any, source: str = "<model>", feature_output: str = "features") -> YoloLayout:
    """Same as inspect_onnx, on an already loaded onnx.ModelProto."""
    warnings: list[str] = []  # in the order the phases find them
    opset = _checked_opset(model, warnings)
    g = _Graph(model)
    input_name, in_shape = _image_input(g, source, warnings)
    in_h, in_w = in_shape[2], in_shape[3]
    feat_name, det_outputs = _split_outputs(g, source, feature_output)
    terminal = _terminal_head_convs(g, source, det_outputs)
    by_stride, grids = _heads_by_stride(g, source, terminal, in_h, in_w, warnings)
    strides = sorted(by_stride)
    heads = (_yolov5_heads(g, source, by_stride, grids) if len(by_stride[strides[0]]) == 1
             else _dfl_heads(g, source, by_stride, grids, warnings))
    detect_idx = _detect_index(heads.scales, warnings)
    feature_node, feature_shape, feature_stride = _feature_map(g, source, feat_name, feature_output, in_h,
                                                               heads.scales, warnings)
    suggested = None
    first = heads.branch_inputs.get(strides[0])
    if first and first in g.producer:
        sp = g.producer[first]
        suggested = sp.name or None
    return YoloLayout(
        onnx_path=source, family=heads.family, opset=opset, input_name=input_name,
        input_shape=(int(in_shape[0]), 3, int(in_h), int(in_w)), num_classes=int(heads.num_classes),
        reg_max=heads.reg_max, num_anchors=heads.num_anchors, detect_index=detect_idx, scales=tuple(heads.scales),
        feature_output=feat_name, feature_node=feature_node,
        feature_shape=tuple(int(v) for v in feature_shape) if feature_shape else None,
        feature_stride=feature_stride, suggested_feature_node=suggested, warnings=tuple(warnings))


@dataclass
class _Heads:
    """What the head convs say: family, classes, DFL bins or anchors, one HeadScale per stride, branch inputs."""

    family: str
    num_classes: int
    reg_max: int | None
    num_anchors: int | None
    scales: list[HeadScale]
    branch_inputs: dict[int, str]   # stride -> the tensor where the box and class branches split


def _checked_opset(model: Any, warnings: list[str]) -> int:
    """The model's ai.onnx opset (a warning when the Dataflow Compiler does not accept it)."""
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset not in SUPPORTED_OPSETS:
        warnings.append(f"opset {opset} is outside {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1} "
                        "accepted by the Dataflow Compiler: re-export with opset=17 (mars-hailo export does)")
    return int(opset)


def _image_input(g: _Graph, source: str, warnings: list[str]) -> tuple[str, Any]:
    """Start node: the single real graph input (not an initializer), NCHW with 3 channels; name and shape."""
    inputs = [i for i in g.graph.input if i.name not in g.init]
    if len(inputs) != 1:
        raise OnnxLayoutError(f"{source}: expected exactly one image input, found {[i.name for i in inputs]}")
    input_name = inputs[0].name
    in_shape = g.shapes.get(input_name)
    if in_shape is None or len(in_shape) != 4 or in_shape[1] != 3:
        raise OnnxLayoutError(f"{source}: input {input_name!r} must have a fixed NCHW shape (1, 3, H, W), got "
                              f"{in_shape}; export with a fixed imgsz (mars-hailo export)")
    if in_shape[0] != 1:
        warnings.append(f"input batch is {in_shape[0]}; the parser is given batch 1")
    return input_name, in_shape


def _split_outputs(g: _Graph, source: str, feature_output: str) -> tuple[str | None, list[str]]:
    """The feature graph output (None when absent) and the detection outputs."""
    outputs = [o.name for o in g.graph.output]
    feat_name = feature_output if feature_output in outputs else None
    det_outputs = [o for o in outputs if o != feat_name]
    if not det_outputs:
        raise OnnxLayoutError(f"{source}: no detection output besides the feature output {feature_output!r}")
    return feat_name, det_outputs


def _terminal_head_convs(g: _Graph, source: str, det_outputs: list[str]) -> list[Any]:
    """The last trainable convs before the decode of the detection outputs (the head convs)."""
    # Nodes that lead to a detection output, and nodes with a trainable conv downstream (reverse topo DP).
    reaches_det: set[int] = set()
    conv_below: set[int] = set()
    det_set = set(det_outputs)
    for n in reversed(g.nodes):
        if any(o in det_set for o in n.output):
            reaches_det.add(id(n))
        for o in n.output:
            for c in g.consumers.get(o, []):
                if id(c) in reaches_det:
                    reaches_det.add(id(n))
                if id(c) in conv_below or (c.op_type == "Conv" and not g.is_dfl_conv(c)):
                    conv_below.add(id(n))
    terminal = [n for n in g.nodes if n.op_type == "Conv" and not g.is_dfl_conv(n)
                and id(n) not in conv_below and id(n) in reaches_det]
    if not terminal:
        raise OnnxLayoutError(f"{source}: found no convolution before the decode of outputs {det_outputs}")
    return terminal


def _heads_by_stride(g: _Graph, source: str, terminal: list[Any], in_h: int, in_w: int,
                     warnings: list[str]) -> tuple[dict[int, list[Any]], dict[int, tuple[int, int]]]:
    """Head convs grouped by stride (one or two per stride, the same everywhere) and each stride's grid."""
    by_stride: dict[int, list[Any]] = {}
    grids: dict[int, tuple[int, int]] = {}
    for n in terminal:
        shp = g.shapes.get(n.output[0])
        if shp is None or len(shp) != 4:
            raise OnnxLayoutError(f"{source}: cannot infer the output shape of {n.name or n.output[0]}; "
                                  "the graph needs static shapes (export with a fixed imgsz, no dynamic axes)")
        stride = in_h // shp[2]
        if stride * shp[2] != in_h or in_w // shp[3] != stride:
            raise OnnxLayoutError(f"{source}: {n.name} output {shp} is not an integer stride of the input "
                                  f"{in_h}x{in_w}")
        by_stride.setdefault(stride, []).append(n)
        grids[stride] = (shp[2], shp[3])
    strides = sorted(by_stride)
    counts = {len(v) for v in by_stride.values()}
    if len(counts) != 1 or counts.pop() not in (1, 2):
        desc = {s: [n.name for n in v] for s, v in by_stride.items()}
        raise OnnxLayoutError(f"{source}: head convs per stride {desc} match no known layout "
                              "(YOLOv5: one per scale; YOLOv8/YOLO11: box + class per scale)")
    if strides != [8, 16, 32]:
        warnings.append(f"head strides {strides} differ from the usual P3-P5 (8, 16, 32)")
    return by_stride, grids


def _channels(g: _Graph, n: Any) -> int:
    return int(g.shapes[n.output[0]][1])


def _yolov5_heads(g: _Graph, source: str, by_stride: dict[int, list[Any]],
                  grids: dict[int, tuple[int, int]]) -> _Heads:
    """YOLOv5: one anchor conv of na * (5 + classes) channels per stride."""
    strides = sorted(by_stride)
    chans = {_channels(g, by_stride[s][0]) for s in strides}
    if len(chans) != 1:
        raise OnnxLayoutError(f"{source}: YOLOv5-style head convs have different channel counts {chans}")
    c = chans.pop()
    num_anchors = _yolov5_anchors(g, by_stride[strides[0]][0], c)
    if c % num_anchors or c // num_anchors <= 5:
        raise OnnxLayoutError(f"{source}: YOLOv5 head conv has {c} channels, not {num_anchors}*(5+classes)")
    scales: list[HeadScale] = []
    branch_inputs: dict[int, str] = {}
    for s in strides:
        n = by_stride[s][0]
        scales.append(HeadScale(s, grids[s], None, None, _node_label(n, f"stride-{s} anchor conv")))
        branch_inputs[s] = n.input[0]
    return _Heads("yolov5", c // num_anchors - 5, None, num_anchors, scales, branch_inputs)


def _dfl_heads(g: _Graph, source: str, by_stride: dict[int, list[Any]], grids: dict[int, tuple[int, int]],
               warnings: list[str]) -> _Heads:
    """YOLOv8 / YOLO11: a DFL box conv (4 * reg_max channels) and a class conv per stride."""
    dfl = [n for n in g.nodes if g.is_dfl_conv(n)]
    # is_dfl_conv only accepts a conv that has its weight, so weight() is not None here.
    reg_max = int(g.weight(dfl[0]).shape[1]) if dfl else 16  # type: ignore[union-attr]
    if not dfl:
        warnings.append("no DFL conv found in the decode; assuming reg_max=16")
    depthwise = False
    ncls: set[int] = set()
    scales: list[HeadScale] = []
    branch_inputs: dict[int, str] = {}
    for s in sorted(by_stride):
        a, b = by_stride[s]
        box, cls = (a, b) if _channels(g, a) == 4 * reg_max else (b, a)
        if _channels(g, box) != 4 * reg_max:
            raise OnnxLayoutError(f"{source}: at stride {s} neither {a.name} ({_channels(g, a)} ch) nor {b.name} "
                                  f"({_channels(g, b)} ch) has 4*reg_max={4 * reg_max} channels")
        if _channels(g, cls) == 4 * reg_max and _channels(g, box) == 4 * reg_max:
            # 64 classes: tell the branches apart by their path to the DFL softmax.
            box, cls = _order_by_dfl(g, a, b)
        ncls.add(_channels(g, cls))
        anc_box, anc_cls = g.ancestors(box), g.ancestors(cls)
        cls_private = [n for n in g.nodes if id(n) in anc_cls and id(n) not in anc_box]
        for n in cls_private:
            if n.op_type == "Conv":
                grp = int(g.attr(n, "group", 1))
                w = g.weight(n)
                if grp > 1 and w is not None and w.shape[1] == 1:
                    depthwise = True
        shared = [n for n in g.nodes if id(n) in anc_cls and id(n) in anc_box]
        branch_inputs[s] = shared[-1].output[0] if shared else ""
        scales.append(HeadScale(s, grids[s], _node_label(box, f"stride-{s} box conv"),
                                _node_label(cls, f"stride-{s} class conv")))
    if len(ncls) != 1:
        raise OnnxLayoutError(f"{source}: class convs have different channel counts {sorted(ncls)}")
    return _Heads("yolo11" if depthwise else "yolov8", ncls.pop(), reg_max, None, scales, branch_inputs)


def _detect_index(scales: list[HeadScale], warnings: list[str]) -> int | None:
    """N of the /model.N/ Detect module the head end nodes come from (the last one found), None if unnamed."""
    detect_idx: int | None = None
    for s in scales:
        for name in s.end_nodes():
            m = _MODEL_INDEX.match(name)
            if m:
                detect_idx = int(m.group(1))
    indices = {m.group(1) for m in (_MODEL_INDEX.match(x) for s in scales for x in s.end_nodes()) if m}
    if len(indices) > 1:
        warnings.append("head end nodes come from different /model.N/ modules; check the layout")
    return detect_idx


def _feature_map(g: _Graph, source: str, feat_name: str | None, feature_output: str, in_h: int,
                 scales: list[HeadScale], warnings: list[str]) -> tuple[str | None, Any, int | None]:
    """The feature node: producer of the extra graph output (skipping Identity/Cast wrappers), shape, stride."""
    if feat_name is None:
        warnings.append(f"no graph output named {feature_output!r}: the HEF would carry no feature map; "
                        "run `mars-hailo export` (adds it) or pass --feature-output")
        return None, None, None
    prod = g.producer.get(feat_name)
    while prod is not None and prod.op_type in ("Identity", "Cast") and prod.input:
        prod = g.producer.get(prod.input[0])
    if prod is None:
        raise OnnxLayoutError(f"{source}: feature output {feat_name!r} is not produced by any node")
    feature_node = _node_label(prod, f"feature output {feat_name!r} producer")
    feature_shape = g.shapes.get(feat_name) or g.shapes.get(prod.output[0])
    if feature_shape is None or len(feature_shape) != 4:
        raise OnnxLayoutError(f"{source}: feature output {feat_name!r} must be a 4-D NCHW map, got "
                              f"{feature_shape}")
    feature_stride = in_h // feature_shape[2]
    if feature_node in [x for s in scales for x in s.end_nodes()]:
        raise OnnxLayoutError(f"{source}: feature output {feat_name!r} is a head conv ({feature_node}); "
                              "it must be a neck feature map")
    return feature_node, feature_shape, feature_stride


def _yolov5_anchors(g: _Graph, conv: Any, channels: int) -> int:
    """Number of anchors from the Reshape to (1, na, 5+nc, h, w) after a YOLOv5 head conv (default 3)."""
    for c in g.consumers.get(conv.output[0], []):
        if c.op_type == "Reshape":
            shp = g.shapes.get(c.output[0])
            if shp is not None and len(shp) == 5:
                return int(shp[1])
    return 3


def _order_by_dfl(g: _Graph, a: Any, b: Any) -> tuple[Any, Any]:
    """(box, cls): the box conv is the one whose output reaches the DFL Softmax."""
    def reaches_softmax(n: Any) -> bool:
        stack, seen = [n], set()
        while stack:
            x = stack.pop()
            for o in x.output:
                for c in g.consumers.get(o, []):
                    if c.op_type == "Softmax":
                        return True
                    if id(c) not in seen and c.op_type not in ("Sigmoid",):
                        seen.add(id(c))
                        stack.append(c)
        return False
    return (a, b) if reaches_softmax(a) else (b, a)


def format_layout_report(layout: YoloLayout, net_name: str, nms_score: float = 0.2, nms_iou: float = 0.7,
                         max_proposals: int = 100) -> str:
    """Human-readable inspect output: layout, translate call, and the matching NMS configuration."""
    import json

    lines = [f"ONNX: {layout.onnx_path}", f"family: {layout.family} (opset {layout.opset}, "
             f"Detect module index {layout.detect_index})",
             f"input: {layout.input_name} {list(layout.input_shape)}",
             f"classes: {layout.num_classes}" + (f", reg_max: {layout.reg_max}" if layout.reg_max else "")
             + (f", anchors per cell: {layout.num_anchors}" if layout.num_anchors else "")]
    for s in layout.scales:
        lines.append(f"  stride {s.stride:>2} grid {s.grid_hw[0]}x{s.grid_hw[1]}: {', '.join(s.end_nodes())}")
    if layout.feature_node:
        lines.append(f"feature: output {layout.feature_output!r} from node {layout.feature_node} "
                     f"shape {list(layout.feature_shape or ())} stride {layout.feature_stride}")
    elif layout.suggested_feature_node:
        lines.append(f"feature: none; suggested neck node {layout.suggested_feature_node}")
    kw = layout.translate_kwargs(net_name)
    lines.append("")
    lines.append("translate arguments:")
    lines.append(f"  runner.translate_onnx_model({layout.onnx_path!r}, {kw['net_name']!r},")
    lines.append(f"      start_node_names={kw['start_node_names']!r},")
    lines.append(f"      end_node_names={kw['end_node_names']!r},")
    lines.append(f"      net_input_shapes={kw['net_input_shapes']!r})")
    lines.append("")
    lines.append(f"NMS: nms_postprocess(\"nms_config.json\", meta_arch={NMS_META_ARCH[layout.family]}, engine=cpu)")
    lines.append("nms_config.json (ONNX node names; `compile` writes it with the parsed HN layer names):")
    lines.append(json.dumps(layout.nms_config(nms_score, nms_iou, max_proposals), indent=2))
    for w in layout.warnings:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)
