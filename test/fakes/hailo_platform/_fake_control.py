"""Fake-only machinery behind the fake hailo_platform (NOT part of the real package).

- Fake HEF files: JSON naming the ONNX model whose numbers the fake device computes, the architecture it
  was "compiled" for, and the output layout (raw heads like `hailomz compile` without NMS, or on-chip NMS).
  Two forms are read: the bare JSON written by `write_fake_hef` (hand-made test HEFs), and the HEF the fake
  DFC (test/fakes/hailo_sdk_client) compiles: HailoRT's real 32-byte header (big-endian magic 0x01484546,
  version, payload size, reserved, MD5 of the payload) followed by the JSON. The compiled form also names the
  parsed end nodes and their HN layer names, the input size actually compiled, the normalization, the output
  activations, the calibration ranges and the NMS config, and the device runs exactly that: the ONNX cut at
  the end nodes, at that input size, with NMS decoded from the quantized heads.
- Device state and fault injection: `STATE` (architecture, presence, inference delay, failures).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from _onnx_subgraph import end_node_session

FAKE_HEF_MAGIC = "fake-hef-v1"
HEF_HEADER_MAGIC = 0x01484546
HEF_HEADER_SIZE = 32
ASYNC_QUEUE_SIZE = 4
_DETECT_CONV = re.compile(r"^/model\.(\d+)/cv([23])\.(\d+)/cv\2\.\3\.2/Conv$")


@dataclass
class FakeDeviceState:
    """What the fake device is and how it misbehaves (tests set these)."""

    present: bool = True
    architecture: str = "HAILO8"          # as `hailortcli fw-control identify` prints it
    inference_delay_s: float = 0.0       # simulated time on chip per frame
    chip_temperature_c: float = 52.5     # what the on-die sensor ts0 reports
    fail_next_inferences: int = 0        # completion_info.exception set for the next N frames
    ready_timeouts: int = 0              # wait_for_async_ready raises HailoRTTimeout N times
    vdevice_opens: int = 0
    vdevice_releases: int = 0
    open_vdevices: int = 0
    frames_run: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Back to a healthy HAILO8 with no counters."""
        fresh = FakeDeviceState()
        for k in ("present", "architecture", "inference_delay_s", "fail_next_inferences", "ready_timeouts",
                  "vdevice_opens", "vdevice_releases", "open_vdevices", "frames_run"):
            setattr(self, k, getattr(fresh, k))


STATE = FakeDeviceState()


def identify_architecture() -> str:
    """What the real `hailortcli fw-control identify` 'Device Architecture:' line would say, lower-cased."""
    return STATE.architecture.lower()


# ---- fake HEF files --------------------------------------------------------------------------------------
def write_fake_hef(path: str, onnx_path: str, hw_arch: str = "hailo8", nms_on_chip: bool = False,
                   feature_output: str = "features", nms_score_threshold: float = 0.2,
                   nms_iou_threshold: float = 0.7, max_proposals_per_class: int = 100,
                   class_sigmoid_on_chip: bool = True, network_group: str = "flower_yolov8n") -> str:
    """Write a fake HEF 'compiled' from onnx_path (absolute path kept)."""
    desc = {"magic": FAKE_HEF_MAGIC, "onnx": str(Path(onnx_path).resolve()), "hw_arch": hw_arch,
            "nms_on_chip": nms_on_chip, "feature_output": feature_output, "network_group": network_group,
            "nms": {"nms_scores_th": nms_score_threshold, "nms_iou_th": nms_iou_threshold,
                    "max_proposals_per_class": max_proposals_per_class},
            "class_sigmoid_on_chip": class_sigmoid_on_chip}
    Path(path).write_text(json.dumps(desc))
    return path


def _hef_payload(data: bytes) -> Optional[bytes]:
    """The payload after a HailoRT HEF header (checked like HailoRT: magic, version, size, MD5), or None."""
    if len(data) < HEF_HEADER_SIZE:
        return None
    magic, version, size, _ = struct.unpack(">IIII", data[:16])
    if magic != HEF_HEADER_MAGIC or version != 0 or len(data) != HEF_HEADER_SIZE + size:
        return None
    payload = data[HEF_HEADER_SIZE:]
    if hashlib.md5(payload).digest() != data[16:HEF_HEADER_SIZE]:
        return None
    return payload


def parse_fake_hef(data: bytes, where: str) -> Dict[str, Any]:
    from hailo_platform.pyhailort.pyhailort import HailoRTInvalidHEFException
    if data[:4] == struct.pack(">I", HEF_HEADER_MAGIC):
        payload = _hef_payload(data)
        if payload is None:  # a corrupted or truncated HEF
            raise HailoRTInvalidHEFException("Invalid HEF. See hailort.log for more information")
        data = payload
    try:
        desc = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        desc = None
    if not isinstance(desc, dict) or desc.get("magic") != FAKE_HEF_MAGIC:
        raise HailoRTInvalidHEFException("Invalid HEF. See hailort.log for more information")
    return desc


def read_fake_hef(path: str) -> Dict[str, Any]:
    from hailo_platform.pyhailort.pyhailort import HailoRTNotFoundException
    if not os.path.isfile(path):
        raise HailoRTNotFoundException("Item not found. See hailort.log for more information")
    return parse_fake_hef(Path(path).read_bytes(), path)


# ---- the numeric model behind a fake HEF -----------------------------------------------------------------
def _quant_for(values: np.ndarray) -> Tuple[float, float]:
    lo, hi = float(min(values.min(), 0.0)), float(max(values.max(), 0.0))
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    return scale, float(np.clip(round(-lo / scale), 0, 255))


class FakeNetwork:
    """ONNX Runtime session with the head convs and the feature map as extra outputs, plus stream infos."""

    def __init__(self, desc: Dict[str, Any]) -> None:
        import onnx
        import onnxruntime as ort
        from hailo_platform.pyhailort.pyhailort import (VStreamInfo, _Format, _NmsShape, _QuantInfo, FormatOrder,
                                                        FormatType)
        self.desc = desc
        model = onnx.load(desc["onnx"])
        graph = model.graph
        in_shape = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        self.input_name = graph.input[0].name
        self.in_h, self.in_w = in_shape[2], in_shape[3]
        net = desc["network_group"]
        heads: Dict[int, Dict[str, Any]] = {}
        for node in graph.node:
            m = _DETECT_CONV.match(node.name)
            if m:
                heads.setdefault(int(m.group(3)), {})["box" if m.group(2) == "2" else "cls"] = node
        existing = {o.name for o in graph.output}
        extra = []
        for scale in sorted(heads):
            for kind in ("box", "cls"):
                t = heads[scale][kind].output[0]
                if t not in existing:
                    graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
                    extra.append(t)
        self.session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        self.feature_output = desc.get("feature_output") or ""
        if self.feature_output and self.feature_output not in {o.name for o in graph.output}:
            self.feature_output = ""
        # The feature end node's original name is its producer (Identity skipped), as the DFC records it.
        producers = {o: n for n in graph.node for o in n.output}
        feat_original = ""
        if self.feature_output:
            node = producers[self.feature_output]
            while node.op_type == "Identity":
                node = producers[node.input[0]]
            feat_original = node.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        # "Calibration": min/max of each output over a few deterministic images, as the DFC's optimize step.
        rng = np.random.default_rng(1)
        calib = [np.full((1, 3, self.in_h, self.in_w), 0.45, np.float32),
                 rng.random((1, 3, self.in_h, self.in_w), dtype=np.float32)]
        ranges: Dict[str, List[np.ndarray]] = {}
        for x in calib:
            for name, value in zip(self.output_names, self.session.run(None, {self.input_name: x})):
                ranges.setdefault(name, []).append(value)
        self.sigmoid_cls = bool(desc.get("class_sigmoid_on_chip", True))
        self.originals: Dict[str, List[str]] = {}
        self.output_infos: List[Any] = []
        self.stream_tensor: Dict[str, str] = {}
        self.kind: Dict[str, str] = {}
        self.quant: Dict[str, Tuple[float, float]] = {}
        conv_index = 40
        self.num_classes = 0
        self.strides: List[int] = []
        if desc["nms_on_chip"]:
            self.num_classes = int(self.session.get_outputs()[0].shape[1]) - 4
            mx = int(desc["nms"]["max_proposals_per_class"])
            name = f"{net}/yolov8_nms_postprocess"
            info = VStreamInfo(name, (self.num_classes * (1 + BBOX * mx),),
                               _Format(FormatType.FLOAT32, FormatOrder.HAILO_NMS_BY_CLASS),
                               _QuantInfo(0.0, 1.0, 0.0, 1.0), _NmsShape(self.num_classes, mx), net)
            self.output_infos.append(info)
            self.originals[name] = ["yolov8_nms_postprocess"]
            self.kind[name] = "nms"
        else:
            for scale in sorted(heads):
                for kind in ("box", "cls"):
                    node = heads[scale][kind]
                    t = node.output[0]
                    values = np.concatenate([v.reshape(-1) for v in ranges[t]])
                    if kind == "cls" and self.sigmoid_cls:
                        values = 1.0 / (1.0 + np.exp(-values))
                    s, zp = _quant_for(values)
                    c, h, w = ranges[t][0].shape[1:]
                    name = f"{net}/conv{conv_index}"
                    conv_index += 1
                    self.output_infos.append(VStreamInfo(name, (h, w, c), _Format(FormatType.UINT8, FormatOrder.NHWC),
                                                         _QuantInfo(zp, s, 0.0, 255.0), None, net))
                    self.originals[name] = [node.name]
                    self.stream_tensor[name] = t
                    self.kind[name] = kind
                    self.quant[name] = (s, zp)
                    if kind == "cls":
                        self.num_classes = c
                        self.strides.append(self.in_h // h)
        if self.feature_output:
            values = np.concatenate([v.reshape(-1) for v in ranges[self.feature_output]])
            s, zp = _quant_for(values)
            c, h, w = ranges[self.feature_output][0].shape[1:]
            name = f"{net}/conv{conv_index}"
            self.output_infos.append(VStreamInfo(name, (h, w, c), _Format(FormatType.UINT8, FormatOrder.NHWC),
                                                 _QuantInfo(zp, s, 0.0, 255.0), None, net))
            self.originals[name] = [feat_original]
            self.stream_tensor[name] = self.feature_output
            self.kind[name] = "feature"
            self.quant[name] = (s, zp)
        self.input_info = VStreamInfo(f"{net}/input_layer1", (self.in_h, self.in_w, 3),
                                      _Format(FormatType.UINT8, FormatOrder.NHWC), _QuantInfo(0.0, 1.0, 0.0, 255.0),
                                      None, net)

    def compute(self, image_hwc_uint8: np.ndarray) -> Dict[str, np.ndarray]:
        """Float outputs per stream name (heads NHWC with the on-chip sigmoid, NMS in by-class raw layout)."""
        # normalization1 = normalization([0,0,0],[255,255,255]) is inside the HEF: the host sends uint8.
        x = image_hwc_uint8.astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255.0)
        results = dict(zip(self.output_names, self.session.run(None, {self.input_name: x})))
        out: Dict[str, np.ndarray] = {}
        for info in self.output_infos:
            kind = self.kind[info.name]
            if kind == "nms":
                out[info.name] = self._nms(results[self.output_names[0]][0])
                continue
            value = results[self.stream_tensor[info.name]][0].transpose(1, 2, 0)
            if kind == "cls" and self.sigmoid_cls:
                value = 1.0 / (1.0 + np.exp(-value))
            out[info.name] = np.ascontiguousarray(value, dtype=np.float32)
        return out

    def _nms(self, pred: np.ndarray) -> np.ndarray:
        """Per-class greedy NMS of the decoded output, written as HailoRT's HAILO_NMS_BY_CLASS raw buffer."""
        cfg = self.desc["nms"]
        mx = int(cfg["max_proposals_per_class"])
        raw = np.zeros(self.num_classes * (1 + BBOX * mx), np.float32)
        offset = 0
        for c in range(self.num_classes):
            scores = pred[4 + c]
            idx = np.nonzero(scores > cfg["nms_scores_th"])[0]
            idx = idx[np.argsort(-scores[idx], kind="stable")]
            boxes = np.stack([pred[0] - pred[2] / 2, pred[1] - pred[3] / 2, pred[0] + pred[2] / 2,
                              pred[1] + pred[3] / 2], 1)[idx]
            kept: List[int] = []
            alive = np.ones(len(idx), bool)
            for i in range(len(idx)):
                if not alive[i]:
                    continue
                kept.append(i)
                if len(kept) == mx:
                    break
                for j in range(i + 1, len(idx)):
                    if alive[j] and _iou(boxes[i], boxes[j]) > cfg["nms_iou_th"]:
                        alive[j] = False
            raw[offset] = len(kept)
            offset += 1
            for i in kept:
                x0, y0, x1, y1 = boxes[i]
                raw[offset:offset + 5] = [np.clip(y0 / self.in_h, 0, 1), np.clip(x0 / self.in_w, 0, 1),
                                          np.clip(y1 / self.in_h, 0, 1), np.clip(x1 / self.in_w, 0, 1),
                                          scores[idx[i]]]
                offset += 5
        return raw


BBOX = 5


def _decode_dfl(box: np.ndarray, cls: np.ndarray, stride: int, reg_max: int) -> np.ndarray:
    """YOLOv8 box (H, W, 4*reg_max) + class (H, W, C) maps -> (4 + C, H*W) rows cx, cy, w, h, scores."""
    gh, gw = box.shape[:2]
    logits = box.reshape(gh * gw, 4, reg_max).astype(np.float64)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    dist = (e / e.sum(axis=-1, keepdims=True) * np.arange(reg_max)).sum(axis=-1)   # l, t, r, b in grid cells
    gy, gx = np.mgrid[0:gh, 0:gw]
    ax, ay = gx.reshape(-1) + 0.5, gy.reshape(-1) + 0.5
    x0, y0 = (ax - dist[:, 0]) * stride, (ay - dist[:, 1]) * stride
    x1, y1 = (ax + dist[:, 2]) * stride, (ay + dist[:, 3]) * stride
    xywh = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])
    return np.concatenate([xywh, cls.reshape(gh * gw, -1).T.astype(np.float64)]).astype(np.float32)


class CompiledNetwork(FakeNetwork):
    """The network of a HEF compiled by the fake DFC: its end nodes at its input size, NMS from quantized heads."""

    def __init__(self, desc: Dict[str, Any]) -> None:  # noqa: D107 - no super().__init__: another model source
        from hailo_platform.pyhailort.pyhailort import (FormatOrder, FormatType, HailoRTInvalidHEFException,
                                                        VStreamInfo, _Format, _NmsShape, _QuantInfo)
        self.desc = desc
        net = desc["network_group"]
        self.in_h, self.in_w = (int(v) for v in desc["input_hw"])
        if not desc.get("onnx") or not os.path.isfile(desc["onnx"]):
            # The real HEF carries the weights; the fake needs the ONNX it was parsed from.
            raise HailoRTInvalidHEFException(f"Invalid HEF (fake: the parsed ONNX {desc.get('onnx')} is gone)")
        ends = desc["end_nodes"]
        self.layers = [str(e["layer"]) for e in ends]
        self.activation = {str(e["layer"]): str(e.get("activation") or "linear") for e in ends}
        norm = desc.get("normalization") or {"mean": [0.0] * 3, "std": [1.0] * 3}
        self.mean = np.asarray(norm["mean"], np.float32)
        self.std = np.asarray(norm["std"], np.float32)
        self.session = end_node_session(desc["onnx"], desc["input_original_name"],
                                         [str(e["original_name"]) for e in ends], (self.in_h, self.in_w))
        self.nms_cfg: Optional[Dict[str, Any]] = desc.get("nms") if desc.get("nms_on_chip") else None
        if desc.get("nms_on_chip") and not self.nms_cfg:
            raise HailoRTInvalidHEFException("Invalid HEF (fake: NMS post-process without a config is not emulated)")
        consumed: set = set()
        if self.nms_cfg is not None:
            for dec in self.nms_cfg["bbox_decoders"]:
                if "reg_layer" not in dec:
                    raise HailoRTInvalidHEFException("Invalid HEF (fake: only YOLOv8-style NMS is emulated)")
                consumed |= {dec["reg_layer"], dec["cls_layer"]}
        # Quantization: the ranges the DFC measured on the calibration set, else the fake's own statistics.
        ranges = {str(e["layer"]): e.get("range") for e in ends}
        if any(r is None for r in ranges.values()):
            rng = np.random.default_rng(1)
            calib = [np.full((self.in_h, self.in_w, 3), 115, np.uint8),
                     rng.integers(0, 256, (self.in_h, self.in_w, 3), dtype=np.uint8)]
            values = [self._layers_float(x) for x in calib]
            for layer in ranges:
                if ranges[layer] is None:
                    ranges[layer] = [min(float(v[layer].min()) for v in values),
                                     max(float(v[layer].max()) for v in values)]
        self.quant = {layer: _quant_for(np.asarray(r, np.float64)) for layer, r in ranges.items()}
        shapes = {k: v.shape for k, v in self._layers_float(np.zeros((self.in_h, self.in_w, 3), np.uint8)).items()}
        self.originals = {}
        self.output_infos = []
        self.kind = {}
        self.stream_tensor = {}
        self.num_classes = 0
        if self.nms_cfg is not None:
            self.num_classes = int(self.nms_cfg["classes"])
            mx = int(self.nms_cfg["max_proposals_per_class"])
            name = f"{net}/{desc.get('nms_meta_arch') or 'yolov8'}_nms_postprocess"
            self.output_infos.append(VStreamInfo(name, (self.num_classes * (1 + BBOX * mx),),
                                                 _Format(FormatType.FLOAT32, FormatOrder.HAILO_NMS_BY_CLASS),
                                                 _QuantInfo(0.0, 1.0, 0.0, 1.0), _NmsShape(self.num_classes, mx), net))
            self.originals[name] = [name.split("/", 1)[1]]
            self.kind[name] = "nms"
        for e in ends:
            layer = str(e["layer"])
            if layer in consumed:
                continue
            scale, zp = self.quant[layer]
            self.output_infos.append(VStreamInfo(layer, tuple(int(v) for v in shapes[layer]),
                                                 _Format(FormatType.UINT8, FormatOrder.NHWC),
                                                 _QuantInfo(zp, scale, 0.0, 255.0), None, net))
            self.originals[layer] = [str(e["original_name"])]
            self.kind[layer] = "layer"
        self.input_info = VStreamInfo(str(desc["input_layer"]), (self.in_h, self.in_w, 3),
                                      _Format(FormatType.UINT8, FormatOrder.NHWC), _QuantInfo(0.0, 1.0, 0.0, 255.0),
                                      None, net)

    def _layers_float(self, image_hwc_uint8: np.ndarray) -> Dict[str, np.ndarray]:
        """Every end layer's output (H, W, C) after its output activation, before quantization."""
        x = ((image_hwc_uint8.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)[None]
        feed = self.session.get_inputs()[0].name
        out = {}
        for layer, value in zip(self.layers, self.session.run(None, {feed: np.ascontiguousarray(x)})):
            v = value[0].transpose(1, 2, 0)
            if self.activation[layer] == "sigmoid":
                v = 1.0 / (1.0 + np.exp(-v))
            out[layer] = np.ascontiguousarray(v, dtype=np.float32)
        return out

    def compute(self, image_hwc_uint8: np.ndarray) -> Dict[str, np.ndarray]:
        """Float outputs per stream (the UINT8 streams are quantized by the caller; NMS reads quantized heads)."""
        values = self._layers_float(image_hwc_uint8)
        out = {name: values[name] for name, kind in self.kind.items() if kind == "layer"}
        if self.nms_cfg is not None:
            def dequantized(layer: str) -> np.ndarray:
                scale, zp = self.quant[layer]
                return (np.clip(np.rint(values[layer] / scale + zp), 0, 255) - zp) * scale
            reg_max = int(self.nms_cfg.get("regression_length", 16))
            pred = np.concatenate([_decode_dfl(dequantized(d["reg_layer"]), dequantized(d["cls_layer"]),
                                               int(d["stride"]), reg_max) for d in self.nms_cfg["bbox_decoders"]],
                                  axis=1)
            name = next(n for n, k in self.kind.items() if k == "nms")
            out[name] = self._nms(pred)
        return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_raw_to_by_class(raw: np.ndarray, number_of_classes: int) -> List[np.ndarray]:
    """HailoRT's output_raw_buffer_to_nms_format_single_frame: per class a count then count*5 floats."""
    flat = raw.reshape(-1)
    out = []
    offset = 0
    for _ in range(number_of_classes):
        n = int(flat[offset])
        offset += 1
        out.append(flat[offset:offset + n * BBOX].reshape(n, BBOX).copy())
        offset += n * BBOX
    return out


_NETWORKS: Dict[str, FakeNetwork] = {}
_NET_LOCK = threading.Lock()


def network_for(desc: Dict[str, Any]) -> FakeNetwork:
    """One FakeNetwork per distinct HEF description (building a session is the slow part)."""
    key = json.dumps(desc, sort_keys=True)
    with _NET_LOCK:
        net = _NETWORKS.get(key)
        if net is None:
            net = _NETWORKS[key] = CompiledNetwork(desc) if "end_nodes" in desc else FakeNetwork(desc)
        return net


# ---- device, infer model, streams -------------------------------------------------------------------------
class _Device:
    def __init__(self) -> None:
        self.released = False


def open_vdevice(params: Any) -> _Device:
    from hailo_platform.pyhailort.pyhailort import HailoRTException
    if not STATE.present:
        raise HailoRTException("libhailort failed with error: 74 (HAILO_OUT_OF_PHYSICAL_DEVICES)")
    with STATE.lock:
        STATE.vdevice_opens += 1
        STATE.open_vdevices += 1
    return _Device()


def release_vdevice(device: _Device) -> None:
    if not device.released:
        device.released = True
        with STATE.lock:
            STATE.vdevice_releases += 1
            STATE.open_vdevices -= 1


class FakeStream:
    def __init__(self, info: Any, quant: Optional[Tuple[float, float]]) -> None:
        self.info = info
        self.name = info.name
        self.format_type = info.format.type
        self.quant = quant

    def user_shape(self) -> tuple:
        return tuple(self.info.shape)

    def dtype(self) -> Any:
        from hailo_platform.pyhailort.pyhailort import FormatType
        return {FormatType.UINT8: np.uint8, FormatType.UINT16: np.uint16}.get(self.format_type, np.float32)

    def frame_size(self) -> int:
        return int(np.prod(self.user_shape())) * np.dtype(self.dtype()).itemsize


class FakeInferModel:
    def __init__(self, device: _Device, hef: Any, net: FakeNetwork) -> None:
        self.device = device
        self.hef = hef
        self.net = net
        self.batch_size = 0
        self.input_stream = FakeStream(net.input_info, None)
        self.output_streams = [FakeStream(i, net.quant.get(i.name)) for i in net.output_infos]

    def find_input(self, name: str) -> FakeStream:
        from hailo_platform.pyhailort.pyhailort import HailoRTNotFoundException
        if name in ("", self.input_stream.name):
            return self.input_stream
        raise HailoRTNotFoundException("Item not found. See hailort.log for more information")

    def find_output(self, name: str) -> FakeStream:
        from hailo_platform.pyhailort.pyhailort import HailoRTNotFoundException
        if name == "" and len(self.output_streams) == 1:
            return self.output_streams[0]
        for s in self.output_streams:
            if s.name == name:
                return s
        raise HailoRTNotFoundException("Item not found. See hailort.log for more information")

    def configure(self) -> "FakeConfigured":
        from hailo_platform.pyhailort.pyhailort import HailoRTHEFNotCompatibleWithDevice, HailoRTException
        if self.device.released:
            raise HailoRTException("libhailort failed with error: 8 (HAILO_INVALID_OPERATION)")
        if self.hef._desc["hw_arch"].upper() != STATE.architecture.upper():
            raise HailoRTHEFNotCompatibleWithDevice(
                "HEF file is not compatible with device. See hailort.log for more information")
        return FakeConfigured(self)


class FakeConfigured:
    """Runs frames on one worker thread, in order, like the device's queue."""

    def __init__(self, model: FakeInferModel) -> None:
        self.model = model
        self._cv = threading.Condition()
        self._queue: List[Tuple[Any, Callable, threading.Event]] = []
        self._stopped = False
        self._worker = threading.Thread(target=self._loop, name="fake-hailo-device", daemon=True)
        self._worker.start()

    def find_input(self, name: str) -> FakeStream:
        return self.model.find_input(name)

    def find_output(self, name: str) -> FakeStream:
        return self.model.find_output(name)

    def wait_ready(self, timeout_s: float, frames_count: int) -> None:
        from hailo_platform.pyhailort.pyhailort import HailoRTTimeout
        with STATE.lock:
            if STATE.ready_timeouts > 0:
                STATE.ready_timeouts -= 1
                raise HailoRTTimeout("Received a timeout - hailort has failed because a timeout had occurred")
        with self._cv:
            if not self._cv.wait_for(lambda: len(self._queue) + frames_count <= ASYNC_QUEUE_SIZE, timeout_s):
                raise HailoRTTimeout("Received a timeout - hailort has failed because a timeout had occurred")

    def submit(self, bindings: List[Any], callback: Callable[[Any], None]) -> threading.Event:
        done = threading.Event()
        with self._cv:
            self._queue.append((bindings, callback, done))
            self._cv.notify_all()
        return done

    def _loop(self) -> None:
        from hailo_platform.pyhailort.pyhailort import HailoRTException
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._queue or self._stopped)
                if self._stopped and not self._queue:
                    return
                bindings, callback, done = self._queue[0]
            error = None
            try:
                if STATE.inference_delay_s:
                    time.sleep(STATE.inference_delay_s)
                with STATE.lock:
                    fail = STATE.fail_next_inferences > 0
                    if fail:
                        STATE.fail_next_inferences -= 1
                if fail:
                    error = HailoRTException("libhailort failed with error: 62 (HAILO_STREAM_ABORT)")
                else:
                    for b in bindings:
                        self._run_one(b)
                    with STATE.lock:
                        STATE.frames_run += 1
            except Exception as exc:  # noqa: BLE001 - becomes the job's error like the C++ status
                error = HailoRTException(f"libhailort failed with error: {exc}")
            try:
                callback(error)
            finally:
                done.set()
                with self._cv:
                    self._queue.pop(0)
                    self._cv.notify_all()

    def _run_one(self, bindings: Any) -> None:
        image = bindings.input().get_buffer(None)
        h, w = self.model.net.in_h, self.model.net.in_w
        image = np.asarray(image).reshape(h, w, 3)
        values = self.model.net.compute(image)
        for stream in self.model.output_streams:
            buf = bindings.output(stream.name).get_buffer(None)
            v = values[stream.name]
            if stream.info.nms_shape is not None:
                buf.reshape(-1)[:] = v
            elif stream.dtype() == np.float32:
                buf[...] = v.reshape(buf.shape)  # HailoRT dequantizes for FLOAT32 user buffers
            else:
                scale, zp = stream.quant
                top = 255 if stream.dtype() == np.uint8 else 65535
                buf[...] = np.clip(np.rint(v / scale + zp), 0, top).astype(buf.dtype).reshape(buf.shape)

    def shutdown(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
