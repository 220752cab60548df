"""`export`: a trained YOLO (.pt or .onnx) -> an ONNX the Hailo parser takes, with the extra feature output."""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mars_hailo.errors import OnnxLayoutError, check_input_file
from mars_hailo.onnx_layout import SUPPORTED_OPSETS, YoloLayout, inspect_model

LOG = logging.getLogger(__name__)
DEFAULT_OPSET = 17


def export_pt_to_onnx(pt_path: Path, out_dir: Path, imgsz: tuple[int, int], opset: int) -> Path:
    """Run ultralytics' own ONNX export (dev-only dependency, imported only here)."""
    try:
        from ultralytics import YOLO  # dev-only: requirements-dev.txt
    except ImportError as exc:
        raise OnnxLayoutError(f"exporting {pt_path} needs the `ultralytics` package (dev-only, see "
                              "requirements-dev.txt); or export the ONNX yourself and pass the .onnx") from exc
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / pt_path.name
        shutil.copy2(pt_path, local)  # ultralytics writes the .onnx next to the weights
        produced = YOLO(str(local)).export(format="onnx", imgsz=list(imgsz), opset=opset, dynamic=False,
                                           simplify=True, half=False, nms=False)
        target = out_dir / (pt_path.stem + ".raw.onnx")
        shutil.copy2(produced, target)
    return target


def _fix_input_size(model: Any, imgsz: tuple[int, int], source: str) -> None:
    inp = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inp) != 1:
        raise OnnxLayoutError(f"{source}: expected one image input, found {[i.name for i in inp]}")
    dims = inp[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise OnnxLayoutError(f"{source}: input {inp[0].name!r} is not 4-D NCHW")
    want = [1, 3, imgsz[0], imgsz[1]]
    for k, d in enumerate(dims):
        if d.HasField("dim_value"):
            if d.dim_value != want[k]:
                raise OnnxLayoutError(f"{source}: input {inp[0].name!r} has fixed size "
                                      f"{[x.dim_value for x in dims]}, not {want}; re-export from the .pt with "
                                      f"--imgsz {imgsz[0]} {imgsz[1]}")
        else:
            d.ClearField("dim_param")
            d.dim_value = want[k]
    # Intermediate shapes inferred for a dynamic input are stale once the input is fixed.
    del model.graph.value_info[:]


def add_feature_output(model: Any, node_name: str, output_name: str, source: str) -> None:
    """Promote the output tensor of node `node_name` to a graph output named `output_name`."""
    from onnx import helper

    node = next((n for n in model.graph.node if n.name == node_name), None)
    if node is None:
        raise OnnxLayoutError(f"{source}: feature node {node_name!r} does not exist in the graph")
    if any(o.name == output_name for o in model.graph.output):
        raise OnnxLayoutError(f"{source}: the graph already has an output named {output_name!r}")
    old = node.output[0]
    # Rename the tensor (not an Identity) so the feature node itself is the parser's end node.
    for n in model.graph.node:
        for k, name in enumerate(n.input):
            if name == old:
                n.input[k] = output_name
    for k, o in enumerate(model.graph.output):
        if o.name == old:
            o.name = output_name
    node.output[0] = output_name
    for vi in model.graph.value_info:
        if vi.name == old:
            vi.name = output_name
    from onnx import TensorProto

    model.graph.output.append(helper.make_tensor_value_info(output_name, TensorProto.FLOAT, None))


def export_onnx(src: str | Path, out: str | Path, imgsz: tuple[int, int] = (640, 640), opset: int = DEFAULT_OPSET,
                feature_node: str | None = None, feature_output: str = "features") -> YoloLayout:
    """Write `out`: fixed input size, opset the DFC accepts, feature output added; returns its layout."""
    import onnx

    src_p, out_p = Path(src), Path(out)
    check_input_file(src_p, "model file", OnnxLayoutError, "a YOLO .pt or .onnx model")
    if opset not in SUPPORTED_OPSETS:
        raise OnnxLayoutError(f"--opset {opset} is not accepted by the Dataflow Compiler "
                              f"({SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1})")
    out_p.parent.mkdir(parents=True, exist_ok=True)
    if src_p.suffix == ".pt":
        onnx_path = export_pt_to_onnx(src_p, out_p.parent, imgsz, opset)
    elif src_p.suffix == ".onnx":
        onnx_path = src_p
    else:
        raise OnnxLayoutError(f"{src_p}: expected an ultralytics .pt or an .onnx file")
    model = onnx.load(str(onnx_path))
    if onnx_path != src_p:
        onnx_path.unlink()  # ultralytics' intermediate export; the result is written to `out`
    _fix_input_size(model, imgsz, str(src_p))
    cur = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if cur != opset:
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, opset)
        except Exception as exc:
            raise OnnxLayoutError(f"{src_p}: cannot convert opset {cur} to {opset}: {exc}; re-export from the "
                                  f".pt with opset={opset}") from exc
    model = onnx.shape_inference.infer_shapes(model)
    layout = inspect_model(model, str(src_p), feature_output)
    if layout.feature_output is None:
        node = feature_node or layout.suggested_feature_node
        if not node:
            raise OnnxLayoutError(f"{src_p}: could not find a stride-8 neck node for the feature output; "
                                  "pass --feature-node")
        add_feature_output(model, node, feature_output, str(src_p))
        LOG.info("added feature output %r from node %s", feature_output, node)
    elif feature_node and feature_node != layout.feature_node:
        raise OnnxLayoutError(f"{src_p}: already has output {feature_output!r} from {layout.feature_node}, "
                              f"not the requested {feature_node}")
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_p))
    return inspect_model(model, str(out_p), feature_output)
