"""Fake-only (shared by the fake hailo_platform and the fake hailo_sdk_client): the network as the parser keeps
it, i.e. the ONNX cut at the end nodes, run with ONNX Runtime at a given input size."""
from __future__ import annotations

from typing import Any, List, Tuple


def end_node_session(onnx_path: str, input_name: str, end_nodes: List[str], input_hw: Tuple[int, int]) -> Any:
    """ONNX Runtime session of the sub-graph from `input_name` to the end nodes' first outputs at input_hw."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(onnx_path)
    g = model.graph
    by_name = {n.name: n for n in g.node}
    producer = {o: n for n in g.node for o in n.output}
    outputs = [by_name[e].output[0] for e in end_nodes]
    # The nodes the end nodes depend on (what the parser keeps), in the graph's (topological) order.
    needed: set = set()
    stack = list(outputs)
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            stack.extend(node.input)
    nodes = [n for n in g.node if id(n) in needed]
    used = {i for n in nodes for i in n.input}
    inp = next(i for i in g.input if i.name == input_name)
    new_input = helper.make_tensor_value_info(input_name, inp.type.tensor_type.elem_type,
                                              [1, 3, int(input_hw[0]), int(input_hw[1])])
    graph = helper.make_graph(nodes, "end_nodes", [new_input],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              [t for t in g.initializer if t.name in used])
    # Shapes recorded at the export size would be wrong at another input size: ONNX Runtime infers them.
    sub = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    return ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])
