"""A batch-1 ONNX export made to take a batch of frames: offline counting runs several frames per inference call.

Ultralytics exports without `dynamic=True` fix the batch axis at 1: in the graph's input and outputs, and in
the shapes of the head's Reshape nodes ([1, 64, -1], [1, 4, 16, anchors], ...). Setting those leading 1s to 0
(Reshape: "copy this dimension from the input") and the batch axis to a symbolic one gives a model that takes
any batch; every frame's outputs are the same values as from the batch-1 model (the layers are per sample;
test/camera/test_onnx_batching.py checks it bit for bit). A model whose batch axis is already symbolic is used as
it is. The CUDA and TensorRT execution providers run the same batched graph (TensorRT builds an engine per
batch shape it meets, cached like the batch-1 engine).
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np


def batch_axis_is_fixed(model: "object") -> bool:
    """True when the graph's (single) input has a fixed batch axis of 1."""
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]  # type: ignore[attr-defined]
    return dim.HasField("dim_value") and dim.dim_value == 1


def dynamic_batch_model(path: Union[str, Path]) -> bytes:
    """The serialized model at path with a symbolic batch axis (see the module docstring)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    if not batch_axis_is_fixed(model):
        return model.SerializeToString()
    # Reshape with allowzero=1 takes a 0 literally: those shapes stay as they are.
    shape_inputs = {node.input[1] for node in model.graph.node if node.op_type == "Reshape" and len(node.input) > 1
                    and not any(a.name == "allowzero" and a.i == 1 for a in node.attribute)}
    constants = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] in shape_inputs:
            tensor = node.attribute[0].t
            shape = numpy_helper.to_array(tensor).copy()
            if shape.ndim == 1 and shape.size and shape[0] == 1:
                shape[0] = 0
                tensor.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), tensor.name))
    for name in shape_inputs & set(constants):
        shape = numpy_helper.to_array(constants[name]).copy()
        if shape.ndim == 1 and shape.size and shape[0] == 1:
            shape[0] = 0
            constants[name].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), name))
    for value in list(model.graph.input) + list(model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"
    del model.graph.value_info[:]   # shapes inferred for batch 1; ONNX Runtime infers them again
    return model.SerializeToString()
