"""ClientRunner of the fake DFC: parse (translate_onnx_model), optimize, compile; HAR and HEF files.

The HEF written by compile() is the real 32-byte HailoRT header (big-endian magic 0x01484546, version 0, payload
size, reserved, MD5 of the payload) followed by a JSON payload in the fake hailo_platform's "fake-hef-v1"
format, so the fake HailoRT runs what was compiled: the ONNX the model was parsed from, cut at the parsed end
nodes, at the compiled input size, with the script's normalization, output activations, NMS post-process and the
quantization ranges measured on the calibration set.
"""
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
FAKE_HEF_PAYLOAD_MAGIC = "fake-hef-v1"  # the payload format of the fake hailo_platform
SUPPORTED_HW_ARCHS = ("hailo8", "hailo8l", "hailo8r", "hailo10h", "hailo15h")
_SCRIPT_COMMANDS = ("normalization", "change_output_activation", "model_optimization_config",
                    "model_optimization_flavor", "nms_postprocess", "performance_param", "resources_param",
                    "quantization_param", "pre_quantization_optimization", "post_quantization_optimization",
                    "allocator_param", "compiler_optimization_level", "input_conversion")


def _keyword(args: str, key: str, default: str) -> str:
    """Value of `key=value` in a model-script command's arguments."""
    m = re.search(rf"\b{key}\s*=\s*(\w+)", args)
    return m.group(1) if m else default


class InvalidArgumentsException(Exception):
    pass


class ClientRunner:
    def __init__(self, hw_arch: str | None = None, har: str | None = None) -> None:
        self._hn: dict[str, Any] | None = None
        self._state = States.UNINITIALIZED
        self._script = ""
        self._quant: dict[str, Any] = {}
        self._settings: dict[str, Any] = {}
        self._original_model: str | None = None
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
        _failures.maybe_error("parse")
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
        self._original_model = str(Path(model).resolve())
        self._settings = {}
        self._quant = {}
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
                "quantization": self._quant, "script_settings": self._settings,
                "original_model_path": self._original_model}
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
        self._settings = meta.get("script_settings", {})
        self._original_model = meta.get("original_model_path")

    # ---------------------------------------------------------------- model script
    def load_model_script(self, model_script: str | None = None, append: bool = False) -> None:
        if self._hn is None:
            raise InvalidArgumentsException("load a model before a model script")
        text = model_script or ""
        if text and "\n" not in text and Path(text).is_file():
            text = Path(text).read_text()
        layers = set(self._hn["layers"])
        short = {n.split("/", 1)[1] for n in layers}
        settings: dict[str, Any] = json.loads(json.dumps(self._settings)) if append else {}
        activations: dict[str, str] = settings.setdefault("activations", {})
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^(?:(\w+)\s*=\s*)?(\w+)\((.*)\)$", line)
            if not m or m.group(2) not in _SCRIPT_COMMANDS:
                raise AllocatorScriptParserException(f"line {lineno}: cannot parse {line!r}")
            cmd, args = m.group(2), m.group(3)
            if cmd == "normalization":
                vm = re.match(r"^\s*\[([^\]]*)\]\s*,\s*\[([^\]]*)\]\s*$", args)
                if not vm:
                    raise AllocatorScriptParserException(f"line {lineno}: cannot parse {line!r}")
                mean, std = ([float(v) for v in g.split(",")] for g in vm.groups())
                if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
                    raise AllocatorScriptParserException(f"line {lineno}: normalization needs 3 means and 3 "
                                                         f"positive stds: {line!r}")
                settings["normalization"] = {"mean": mean, "std": std}
            if cmd == "change_output_activation":
                layer, _, activation = (v.strip() for v in args.partition(","))
                if layer not in layers and layer not in short:
                    raise AllocatorScriptParserException(f"line {lineno}: layer {layer} does not exist")
                activations[layer if layer in layers else f"{self._hn['name']}/{layer}"] = activation or "linear"
            if cmd == "nms_postprocess":
                settings["nms"] = {"meta_arch": _keyword(args, "meta_arch", "yolov8"),
                                   "engine": _keyword(args, "engine", "cpu"), "config": None}
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
                    settings["nms"]["config"] = cfg  # the DFC reads the config here, not at compile time
        self._script = (self._script + "\n" + text) if append else text
        self._settings = settings

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
        _failures.maybe_error("optimize")
        size = self._script_int("model_optimization_config", "calibset_size", 64)
        used = calib_data[: min(size, len(calib_data))]
        self._quant = {"calibset_used": int(len(used)), "batch_size": batch,
                       "input_min": float(used.min()), "input_max": float(used.max()),
                       "optimization_level": self._script_int("model_optimization_flavor", "optimization_level", 2),
                       "output_ranges": self._calibrate(used)}
        self._state = States.QUANTIZED_MODEL

    def _end_layers(self) -> list[tuple[str, str]]:
        """(HN layer, ONNX end node) of every parsed output layer, in output order."""
        assert self._hn is not None
        return [(name, self._hn["layers"][name]["original_names"][0])
                for name in self._hn["net_params"]["output_layers_order"]]

    def _normalization(self) -> dict[str, list[float]]:
        return self._settings.get("normalization") or {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}

    def _calibrate(self, used: np.ndarray) -> dict[str, list[float]]:
        """Per output layer (min, max) over the calibration set, measured with the emulator."""
        from hailo_sdk_client._emulator import output_ranges

        if not self._original_model or not Path(self._original_model).is_file():
            return {}  # a HAR without its original model: the device falls back to its own statistics
        assert self._hn is not None
        inp = next(v for v in self._hn["layers"].values() if v["type"] == "input_layer")
        ends = self._end_layers()
        acts = self._settings.get("activations", {})
        norm = self._normalization()
        ranges = output_ranges(self._original_model, inp["original_names"][0], [e for _, e in ends], used,
                               norm["mean"], norm["std"], [acts.get(n, "linear") for n, _ in ends])
        return {n: [lo, hi] for (n, _), (lo, hi) in zip(ends, ranges)}

    # ---------------------------------------------------------------- compile
    def compile(self) -> bytes:
        if self._state != States.QUANTIZED_MODEL:
            raise InvalidArgumentsException(f"compile needs a quantized HAR, state is {self._state.value}")
        _failures.maybe_crash("compile")
        _failures.maybe_error("compile")
        inp = next(v for v in self._hn["layers"].values() if v["type"] == "input_layer")
        h, w = inp["output_shapes"][0][1:3]
        limit = _failures.alloc_limit()
        if limit is not None and h * w > limit * limit:
            raise BackendAllocatorException(
                "Compilation failed: No successful assignments: concat18 errors:\n\tAgent infeasible\n"
                f"(input {h}x{w} does not fit {self._hw_arch} resources)")
        payload = json.dumps(self._hef_payload(int(h), int(w))).encode()
        header = struct.pack(">IIII", HEF_MAGIC, 0, len(payload), 0) + hashlib.md5(payload).digest()
        self._state = States.COMPILED_MODEL
        return header + payload

    def _hef_payload(self, h: int, w: int) -> dict[str, Any]:
        """What the fake HailoRT needs to run this network (the fake hailo_platform's fake-hef-v1 format)."""
        assert self._hn is not None
        net = self._hn["name"]
        inp_name, inp = next((k, v) for k, v in self._hn["layers"].items() if v["type"] == "input_layer")
        acts = self._settings.get("activations", {})
        ranges = self._quant.get("output_ranges", {})
        nms = self._settings.get("nms")
        end_nodes = [{"layer": name, "original_name": orig, "activation": acts.get(name, "linear"),
                      "range": ranges.get(name)} for name, orig in self._end_layers()]
        return {"magic": FAKE_HEF_PAYLOAD_MAGIC, "onnx": self._original_model, "hw_arch": self._hw_arch,
                "network_group": net, "input_hw": [h, w], "input_layer": inp_name,
                "input_original_name": inp["original_names"][0], "normalization": self._normalization(),
                "end_nodes": end_nodes, "nms_on_chip": nms is not None,
                "nms": (nms or {}).get("config"), "nms_meta_arch": (nms or {}).get("meta_arch"),
                "layers": self._hn["layers"], "model_script": self._script}
