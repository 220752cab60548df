"""Fake-only: the parsed network emulated with ONNX Runtime (the ONNX cut at the parsed end nodes, at the
parsed input size), as the DFC's SDK_FP_OPTIMIZED emulator runs it to collect calibration statistics."""
from __future__ import annotations

from typing import Any

import numpy as np


def end_node_session(onnx_path: str, input_name: str, end_nodes: list[str], input_hw: tuple[int, int]) -> Any:
    """ONNX Runtime session of the sub-graph from `input_name` to the end nodes' first outputs at input_hw."""
    import onnx
    import onnxruntime as ort
    from onnx import utils as onnx_utils

    model = onnx.load(onnx_path)
    producers = {n.name: n for n in model.graph.node}
    outputs = [producers[e].output[0] for e in end_nodes]
    sub = onnx_utils.Extractor(model).extract_model([input_name], outputs)
    dims = sub.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = int(input_hw[0]), int(input_hw[1])
    # Shapes recorded at the export size are wrong at another input size: let ONNX Runtime infer them.
    del sub.graph.value_info[:]
    for out in sub.graph.output:
        out.type.tensor_type.ClearField("shape")
    return ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])


def output_ranges(onnx_path: str, input_name: str, end_nodes: list[str], calib_nhwc: np.ndarray,
                  mean: list[float], std: list[float], activations: list[str]) -> list[tuple[float, float]]:
    """(min, max) of each end node's output (after its output activation) over the calibration images."""
    h, w = int(calib_nhwc.shape[1]), int(calib_nhwc.shape[2])
    sess = end_node_session(onnx_path, input_name, end_nodes, (h, w))
    feed = sess.get_inputs()[0].name
    lo = [np.inf] * len(end_nodes)
    hi = [-np.inf] * len(end_nodes)
    m, s = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    for img in calib_nhwc:
        x = ((img.astype(np.float32) - m) / s).transpose(2, 0, 1)[None]
        for k, value in enumerate(sess.run(None, {feed: np.ascontiguousarray(x)})):
            if activations[k] == "sigmoid":
                value = 1.0 / (1.0 + np.exp(-value))
            lo[k] = min(lo[k], float(value.min()))
            hi[k] = max(hi[k], float(value.max()))
    return list(zip(lo, hi))
