"""Names under which a HEF may know the feature output: the ONNX node that produces it (Identity skipped)."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple


def feature_node_names(onnx_path: str, feature_output: str) -> Tuple[str, ...]:
    """The producer node name(s) of graph output feature_output in onnx_path (empty if unknown)."""
    if not feature_output or not Path(onnx_path).is_file():
        return ()
    try:
        import onnx
        model = onnx.load(onnx_path, load_external_data=False)
    except Exception:  # noqa: BLE001 - names are a hint only; the HEF check reports what is missing
        return ()
    producers = {out: node for node in model.graph.node for out in node.output}
    names = []
    tensor = feature_output
    while tensor in producers:
        node = producers[tensor]
        names.append(node.name)
        if node.op_type not in ("Identity", "Cast"):
            break
        tensor = node.input[0]
    return tuple(names)
