"""ClientRunner of the fake DFC: parse (translate_onnx_model), optimize, compile; HAR and HEF files."""
from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from hailo_sdk_client import _failures
from hailo_sdk_client.exposed_definitions import CalibrationDataType, States
from hailo_sdk_client.model_translator.exceptions import (MisspellNodeError, ParsingWithRecommendationException,
                                                          UnsupportedModelError)
from hailo_sdk_client.sdk_backend.sdk_backend_exceptions import (AllocatorScriptParserException,
                                                                 BackendAllocatorException)

HEF_MAGIC = 0x01484546
SUPPORTED_HW_ARCHS = ("hailo8", "hailo8l", "hailo8r", "hailo10h", "hailo15h")
_SCRIPT_COMMANDS = ("normalization", "change_output_activation", "model_optimization_config",
                    "model_optimization_flavor", "nms_postprocess", "performance_param", "resources_param",
                    "quantization_param", "pre_quantization_optimization", "post_quantization_optimization",
                    "allocator_param", "compiler_optimization_level", "input_conversion")


class InvalidArgumentsException(Exception):
    pass


class ClientRunner:
    def __init__(self, hw_arch: str | None = None, har: str | None = None) -> None:
        self._hn: dict[str, Any] | None = None
        self._state = States.UNINITIALIZED
        self._script = ""
        self._quant: dict[str, Any] = {}
        self._hw_arch = hw_arch
        if har is not None:
            self.load_har(har)
            if hw_arch is not None and hw_arch != self._hw_arch:
                raise InvalidArgumentsException(f"HAR {har} was created for {self._hw_arch}, not {hw_arch}")
        if self._hw_arch is None:
            self._hw_arch = "hailo8"
        if self._hw_arch not in SUPPORTED_HW_ARCHS:
            raise InvalidArgumentsException(f"hw_arch {self._hw_arch!r} is not supported: {SUPPORTED_HW_ARCHS}")

    @property
    def state(self) -> States:
        return self._state

    @property
    def hw_arch(self) -> str:
        return str(self._hw_arch)

    # ---------------------------------------------------------------- parse
    def translate_onnx_model(self, model: str, net_name: str | None = None, start_node_names: list[str] | None = None,
                             end_node_names: list[str] | None = None,
                             net_input_shapes: dict[str, list[int]] | list[int] | None = None,
                             augmented_path: str | None = None, disable_shape_inference: bool = False,
                             disable_rt_metadata_extraction: bool = False, net_input_format: Any = None,
                             **kwargs: Any) -> tuple[str, dict[str, np.ndarray]]:
        import onnx

        _failures.maybe_crash("parse")
        try:
            proto = onnx.load(str(model))
        except Exception as exc:
            raise UnsupportedModelError(f"Failed to load ONNX model {model}: {exc}") from exc
        net_name = net_name or Path(model).stem
        g = proto.graph
        inits = {t.name for t in g.initializer}
        inputs = {i.name: i for i in g.input if i.name not in inits}
        nodes = {n.name: n for n in g.node}
        start = list(start_node_names or list(inputs))
        bad_start = [s for s in start if s not in inputs and s not in nodes]
        if bad_start:
            raise MisspellNodeError(f"Unable to find start node names: {bad_start}")
        ends = list(end_node_names or [])
        if not ends:
            # Parsing to the graph outputs runs into the YOLO decode (Softmax over DFL bins, Reshapes): the real
            # parser stops there and recommends the last supported nodes.
            rec = [n for n in nodes if re.match(r"^/model\.\d+/cv[23]\.\d+/cv[23]\.\d+\.2/Conv$", n)]
            raise ParsingWithRecommendationException(
                "Parsing failed. The errors found in the graph are: UnsupportedSoftmaxLayerError in op "
                "/model.22/dfl/Softmax: Unsupported softmax axis. Please try to parse the model again, using "
                f"these end node names: {rec}", recommended_end_node_names=rec)
        bad = [e for e in ends if e not in nodes]
        if bad:
            raise MisspellNodeError(f"Unable to find end node names: {bad}, please verify and try again.")
        if len(start) != 1 or start[0] not in inputs:
            raise UnsupportedModelError("the fake supports exactly one graph input as start node")
        dims = [d.dim_value for d in inputs[start[0]].type.tensor_type.shape.dim]
        if isinstance(net_input_shapes, dict):
            shape = list(net_input_shapes.get(start[0], dims))
        elif net_input_shapes is not None:
            shape = list(net_input_shapes)
        else:
            shape = dims
        if len(shape) != 4 or shape[1] != 3 or any(int(v) <= 0 for v in shape):
            raise UnsupportedModelError(f"net_input_shapes {shape} is not [1, 3, H, W]")
        h, w = int(shape[2]), int(shape[3])
        inferred = onnx.shape_inference.infer_shapes(proto)
        shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                  for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
        layers: dict[str, Any] = {f"{net_name}/input_layer1": {"type": "input_layer", "original_names": [start[0]],
                                                               "output_shapes": [[-1, h, w, 3]]}}
        order = []
        for k, e in enumerate(ends):
            n = nodes[e]
            oshape = shapes.get(n.output[0])
            if not oshape or len(oshape) != 4:
                raise UnsupportedModelError(f"cannot infer the shape of end node {e}")
            sh, sw = dims[2] // oshape[2], dims[3] // oshape[3]
            if h % sh or w % sw:
                raise UnsupportedModelError(f"input {h}x{w} is not divisible by the stride {sh} of {e}")
            kind = "conv" if n.op_type == "Conv" else ("ew_mult" if n.op_type == "Mul" else n.op_type.lower())
            name = f"{net_name}/{kind}{k + 1}"
            layers[name] = {"type": kind, "original_names": [e], "output_shapes": [[-1, h // sh, w // sw, oshape[1]]],
                            "activation": "linear"}
            order.append(name)
        self._hn = {"name": net_name, "net_params": {"version": "1.0", "output_layers_order": order,
                                                     "stage": "HN"}, "layers": layers}
        self._state = States.HAILO_MODEL
        self._params = {"weights_digest": np.frombuffer(hashlib.sha256(proto.SerializeToString()).digest(), np.uint8)}
        return json.dumps(self._hn), self._params

    def get_hn_dict(self) -> dict[str, Any]:
        if self._hn is None:
            raise InvalidArgumentsException("no model loaded")
        return json.loads(json.dumps(self._hn))

    # ---------------------------------------------------------------- HAR
    def save_har(self, har_path: str, compressed: bool = False, save_original_model: bool = False) -> None:
        if self._hn is None:
            raise InvalidArgumentsException("nothing to save: no model was parsed or loaded")
        meta = {"state": self._state.value, "hw_arch": self._hw_arch, "model_script": self._script,
                "quantization": self._quant}
        with tarfile.open(har_path, "w:gz" if compressed else "w") as tar:
            for name, payload in ((f"{self._hn['name']}.hn", json.dumps(self._hn).encode()),
                                  ("meta.json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))

    def load_har(self, har: str) -> None:
        try:
            with tarfile.open(har) as tar:
                files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        except (OSError, tarfile.TarError) as exc:
            raise InvalidArgumentsException(f"cannot read HAR {har}: {exc}") from exc
        hn_name = next((n for n in files if n.endswith(".hn")), None)
        if hn_name is None or "meta.json" not in files:
            raise InvalidArgumentsException(f"{har} is not a HAR (no .hn inside)")
        self._hn = json.loads(files[hn_name])
        meta = json.loads(files["meta.json"])
        self._state = States(meta["state"])
        self._hw_arch = meta["hw_arch"]
        self._script = meta.get("model_script", "")
        self._quant = meta.get("quantization", {})

    # ---------------------------------------------------------------- model script
    def load_model_script(self, model_script: str | None = None, append: bool = False) -> None:
        if self._hn is None:
            raise InvalidArgumentsException("load a model before a model script")
        text = model_script or ""
        if text and "\n" not in text and Path(text).is_file():
            text = Path(text).read_text()
        layers = set(self._hn["layers"])
        short = {n.split("/", 1)[1] for n in layers}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^(?:(\w+)\s*=\s*)?(\w+)\((.*)\)$", line)
            if not m or m.group(2) not in _SCRIPT_COMMANDS:
                raise AllocatorScriptParserException(f"line {lineno}: cannot parse {line!r}")
            cmd, args = m.group(2), m.group(3)
            if cmd == "change_output_activation":
                layer = args.split(",")[0].strip()
                if layer not in layers and layer not in short:
                    raise AllocatorScriptParserException(f"line {lineno}: layer {layer} does not exist")
            if cmd == "nms_postprocess":
                pm = re.match(r'^"([^"]+)"', args)
                if pm:
                    path = Path(pm.group(1))
                    if not path.is_file():
                        raise AllocatorScriptParserException(f"line {lineno}: NMS config {path} not found")
                    cfg = json.loads(path.read_text())
                    for dec in cfg.get("bbox_decoders", []):
                        for key in ("reg_layer", "cls_layer", "encoded_layer"):
                            if key in dec and dec[key] not in layers:
                                raise AllocatorScriptParserException(
                                    f"line {lineno}: NMS config {path}: {key} {dec[key]} is not a layer")
        self._script = (self._script + "\n" + text) if append else text

    def _script_int(self, command: str, key: str, default: int) -> int:
        m = re.search(rf"{command}\([^)]*\b{key}\s*=\s*(\d+)", self._script)
        return int(m.group(1)) if m else default

    # ---------------------------------------------------------------- optimize
    def optimize(self, calib_data: Any, data_type: CalibrationDataType = CalibrationDataType.auto,
                 work_dir: str | None = None) -> None:
        if self._state != States.HAILO_MODEL:
            raise InvalidArgumentsException(f"optimize needs a parsed (hailo_model) HAR, state is {self._state.value}")
        if isinstance(calib_data, dict):
            calib_data = next(iter(calib_data.values()))
        if not isinstance(calib_data, np.ndarray):
            raise InvalidArgumentsException(f"calibration data must be a numpy array, got {type(calib_data)}")
        inp = next(v for v in self._hn["layers"].values() if v["type"] == "input_layer")
        want = tuple(inp["output_shapes"][0][1:])
        if calib_data.ndim != 4 or tuple(calib_data.shape[1:]) != want:
            raise InvalidArgumentsException(f"calibration data shape {calib_data.shape} does not match the "
                                            f"network input (N, {want[0]}, {want[1]}, {want[2]}) (NHWC)")
        if calib_data.dtype != np.float32:
            raise InvalidArgumentsException(f"calibration data must be float32, got {calib_data.dtype}")
        batch = self._script_int("model_optimization_config", "batch_size",
                                 self._script_int("model_optimization_flavor", "batch_size", 8))
        _failures.maybe_oom(batch)
        _failures.maybe_crash("optimize")
        size = self._script_int("model_optimization_config", "calibset_size", 64)
        used = calib_data[: min(size, len(calib_data))]
        self._quant = {"calibset_used": int(len(used)), "batch_size": batch,
                       "input_min": float(used.min()), "input_max": float(used.max()),
                       "optimization_level": self._script_int("model_optimization_flavor", "optimization_level", 2)}
        self._state = States.QUANTIZED_MODEL

    # ---------------------------------------------------------------- compile
    def compile(self) -> bytes:
        if self._state != States.QUANTIZED_MODEL:
            raise InvalidArgumentsException(f"compile needs a quantized HAR, state is {self._state.value}")
        _failures.maybe_crash("compile")
        inp = next(v for v in self._hn["layers"].values() if v["type"] == "input_layer")
        h, w = inp["output_shapes"][0][1:3]
        limit = _failures.alloc_limit()
        if limit is not None and h * w > limit * limit:
            raise BackendAllocatorException(
                "Compilation failed: No successful assignments: concat18 errors:\n\tAgent infeasible\n"
                f"(input {h}x{w} does not fit {self._hw_arch} resources)")
        payload = json.dumps({"network_group": self._hn["name"], "hw_arch": self._hw_arch,
                              "layers": self._hn["layers"], "model_script": self._script}).encode()
        header = struct.pack(">IIII", HEF_MAGIC, 0, len(payload), 0) + hashlib.md5(payload).digest()
        self._state = States.COMPILED_MODEL
        return header + payload
