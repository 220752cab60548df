"""Test helper: run a YOLOv8 ONNX with its per-scale head convs as extra outputs (independent of our code)."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Dict, List, Tuple

import numpy as np

_CONV = re.compile(r"^/model\.\d+/cv([23])\.(\d+)/cv\1\.\2\.2/Conv$")


@lru_cache(maxsize=2)
def heads_session(model_path: str):
    """(session, [(scale, box tensor, cls tensor)])."""
    import onnx
    import onnxruntime as ort
    model = onnx.load(model_path)
    heads: Dict[int, Dict[str, str]] = {}
    for node in model.graph.node:
        m = _CONV.match(node.name)
        if m:
            heads.setdefault(int(m.group(2)), {})["box" if m.group(1) == "2" else "cls"] = node.output[0]
    for scale in sorted(heads):
        for kind in ("box", "cls"):
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(heads[scale][kind]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session, [(s, heads[s]["box"], heads[s]["cls"]) for s in sorted(heads)]


def run_with_heads(model_path: str, tensor: np.ndarray) -> Tuple[np.ndarray, List[np.ndarray], List[np.ndarray]]:
    """output0 plus NHWC box maps and class-logit maps per scale (stride 8, 16, 32)."""
    session, heads = heads_session(model_path)
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, {session.get_inputs()[0].name: tensor})))
    boxes = [values[b][0].transpose(1, 2, 0) for _, b, _ in heads]
    classes = [values[c][0].transpose(1, 2, 0) for _, _, c in heads]
    return values["output0"], boxes, classes
