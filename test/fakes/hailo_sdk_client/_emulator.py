"""Fake-only: the parsed network emulated with ONNX Runtime (the ONNX cut at the parsed end nodes, at the
parsed input size), as the DFC's SDK_FP_OPTIMIZED emulator runs it to collect calibration statistics."""
from __future__ import annotations


import numpy as np

from _onnx_subgraph import end_node_session

__all__ = ["end_node_session", "output_ranges"]


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
