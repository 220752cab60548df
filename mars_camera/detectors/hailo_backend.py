"""Hailo-8/8L backend on HailoRT's InferModel API (hailo_platform), imported lazily.

One VDevice per process, shared by every model with a reference count (re-opening it per frame costs
~200 ms). Frames run asynchronously (run_async + callback) so capture, inference and post-processing
overlap. Both YOLO HEF kinds are handled: on-chip NMS (HAILO_NMS_BY_CLASS, requested as FLOAT32) and raw
heads (requested as UINT8, dequantized on the CPU with each stream's scale/zero-point, only where needed).
The HEF is checked at start-up against the configuration (input size, feature output, architecture).
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import numpy as np

from mars_camera.detectors.base import (
    LAYOUT_NMS_BY_CLASS,
    LAYOUT_RAW_HEADS,
    BackendUnavailableError,
    DetectorBackend,
    DetectorError,
    FeatureMapInfo,
    InferenceTimeoutError,
    ModelMismatchError,
    ModelOutputs,
    PendingInference,
    QuantParams,
    no_feature_output_note,
    requested_feature_output,
)
from mars_camera.detectors.hailo_output_roles import (
    REG_MAX,
    ExpectedOutputs,
    OutputStream,
    assign_output_roles,
    hailort_enum_name,
)

LOG = logging.getLogger(__name__)

# FormatOrder names of the NMS layout decoded here (HAILO_NMS: the name before HailoRT 4.18).
_NMS_BY_CLASS_ORDERS = ("HAILO_NMS_BY_CLASS", "HAILO_NMS")


def import_hailo_platform() -> Any:
    """The hailo_platform module, or BackendUnavailableError explaining how to get it."""
    try:
        import hailo_platform  # noqa: F401  (Hailo's wheel from the developer zone / Raspberry Pi OS apt)
    except ImportError as exc:
        raise BackendUnavailableError(
            "hailo_platform (HailoRT Python) is not installed: on Raspberry Pi OS `sudo apt install hailo-all`, "
            f"elsewhere Hailo's developer-zone wheel ({exc})") from exc
    return hailo_platform


def _exception_types(hp: Any) -> Dict[str, Type[BaseException]]:
    """HailoRT's exception classes (exported from hailo_platform.pyhailort.pyhailort)."""
    try:
        from hailo_platform.pyhailort import pyhailort as prt
    except ImportError:  # pragma: no cover - every HailoRT 4.x has this module
        prt = hp
    base = getattr(prt, "HailoRTException", Exception)
    return {
        "base": base,
        "timeout": getattr(prt, "HailoRTTimeout", base),
        "not_compatible": getattr(prt, "HailoRTHEFNotCompatibleWithDevice", base),
        "invalid_hef": getattr(prt, "HailoRTInvalidHEFException", base),
    }


def device_architecture() -> Optional[str]:
    """'hailo8' / 'hailo8l' from `hailortcli fw-control identify` (as picamera2's Hailo helper does), or None."""
    exe = shutil.which("hailortcli")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "fw-control", "identify"], capture_output=True, text=True, check=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if "Device Architecture:" in line:
            return line.split(":")[-1].strip().lower()
    return None


class SharedVDevice:
    """The process-wide VDevice, opened on first use and released when the last user closes."""

    _lock = threading.Lock()
    _vdevice: Any = None
    _refs = 0

    @classmethod
    def acquire(cls, hp: Any) -> Any:
        """The shared VDevice (round-robin scheduler so several models/processes share the chip)."""
        with cls._lock:
            if cls._vdevice is None:
                params = hp.VDevice.create_params()
                params.scheduling_algorithm = hp.HailoSchedulingAlgorithm.ROUND_ROBIN
                cls._vdevice = hp.VDevice(params)
                LOG.info("opened the Hailo VDevice (shared by every model of this process)")
            cls._refs += 1
            return cls._vdevice

    @classmethod
    def release(cls) -> None:
        """Drop one reference; the device is released with the last one."""
        with cls._lock:
            if cls._refs == 0:
                return
            cls._refs -= 1
            if cls._refs == 0 and cls._vdevice is not None:
                cls._vdevice.release()
                cls._vdevice = None

    @classmethod
    def users(cls) -> int:
        """Current reference count."""
        return cls._refs

    @classmethod
    def chip_temperature_c(cls) -> Optional[float]:
        """Hottest on-die sensor (ts0/ts1) of the physical devices, or None when the device does not say."""
        with cls._lock:
            if cls._vdevice is None:
                return None
            try:
                readings = [d.control.get_chip_temperature() for d in cls._vdevice.get_physical_devices()]
            except Exception:  # noqa: BLE001 - older HailoRT or a busy control channel: no temperature
                return None
        values = [float(v) for r in readings for v in (getattr(r, "ts0_temperature", None),
                                                        getattr(r, "ts1_temperature", None)) if v is not None]
        return max(values) if values else None


class _HailoPending(PendingInference):
    def __init__(self, job: Any, done: threading.Event, box: Dict[str, Any], timeout_ms: int,
                 errors: Dict[str, Type[BaseException]], build: Callable[[Any, float], ModelOutputs],
                 bindings: Any) -> None:
        self._job, self._done, self._box = job, done, box
        self._timeout_ms, self._errors = timeout_ms, errors
        self._build, self._bindings = build, bindings

    def result(self) -> ModelOutputs:
        try:
            self._job.wait(self._timeout_ms)
        except self._errors["timeout"] as exc:
            raise InferenceTimeoutError(f"Hailo inference did not finish within hailo_timeout_ms="
                                        f"{self._timeout_ms}") from exc
        except self._errors["base"] as exc:
            raise DetectorError(f"Hailo inference failed: {exc}") from exc
        # job.wait returns once the callback ran; the event guards against a late callback thread.
        if not self._done.wait(self._timeout_ms / 1000.0):
            raise InferenceTimeoutError(f"Hailo completion callback did not run within {self._timeout_ms} ms")
        if "error" in self._box:
            err = self._box["error"]
            if isinstance(err, self._errors["timeout"]):
                raise InferenceTimeoutError(f"Hailo inference timed out: {err}") from err
            raise DetectorError(f"Hailo inference failed: {err}") from err
        # Read (and dequantize) the buffers here, on the caller's thread, not in HailoRT's callback.
        return self._build(self._bindings, self._box["finished"])


class HailoDetectorBackend(DetectorBackend):
    """A YOLO HEF on the shared VDevice."""

    name = "hailo"

    def __init__(self, hef_path: str, input_size: Tuple[int, int], feature_output: str = "features",
                 expected_arch: str = "", timeout_ms: int = 1000, scores_activated: bool = True,
                 feature_node_names: Tuple[str, ...] = (),
                 architecture_probe: Callable[[], Optional[str]] = device_architecture,
                 hailo_module: Any = None) -> None:
        hp = hailo_module if hailo_module is not None else import_hailo_platform()
        self._hp = hp
        self._errors = _exception_types(hp)
        self.hef_path = str(hef_path)
        self._timeout_ms = int(timeout_ms)
        self._scores_activated = bool(scores_activated)
        if not Path(self.hef_path).is_file():
            raise ModelMismatchError(f"hef_path: HEF file '{self.hef_path}' does not exist")
        try:
            hef = hp.HEF(self.hef_path)
        except self._errors["base"] as exc:
            raise ModelMismatchError(f"hef_path: '{self.hef_path}' is not a valid HEF: {exc}") from exc

        # --- start-up checks against the configuration -------------------------------------------------
        self.device_arch = architecture_probe()
        if expected_arch and self.device_arch and self.device_arch != expected_arch:
            raise ModelMismatchError(f"hailo_arch is '{expected_arch}' but the device reports "
                                     f"'{self.device_arch}': use a HEF compiled for {self.device_arch} and set "
                                     f"hailo_arch={self.device_arch}")
        in_infos = hef.get_input_vstream_infos()
        if len(in_infos) != 1:
            raise ModelMismatchError(f"HEF '{self.hef_path}' has {len(in_infos)} inputs, expected 1 image input")
        in_h, in_w = int(in_infos[0].shape[0]), int(in_infos[0].shape[1])
        want_w, want_h = int(input_size[0]), int(input_size[1])
        if (in_w, in_h) != (want_w, want_h):
            raise ModelMismatchError(f"input_width/input_height are {want_w}x{want_h} but HEF '{self.hef_path}' "
                                     f"takes {in_w}x{in_h}: set input_width={in_w} input_height={in_h} (or "
                                     "compile the HEF at the configured size)")
        self._input_size = (in_w, in_h)
        self._plan_outputs(hef, feature_output, feature_node_names)

        # --- device, model, configuration (once) -------------------------------------------------------
        self._vdevice = SharedVDevice.acquire(hp)
        self._closed = False
        try:
            self._infer_model = self._vdevice.create_infer_model(self.hef_path)
            self._infer_model.set_batch_size(1)
            self._infer_model.input().set_format_type(hp.FormatType.UINT8)
            for name in self._infer_model.output_names:
                kind = self._kinds[name]
                self._infer_model.output(name).set_format_type(
                    hp.FormatType.FLOAT32 if kind == "nms" else hp.FormatType.UINT8)
            self._quant = self._read_quant()
            self._out_shapes = {n: tuple(self._infer_model.output(n).shape) for n in self._infer_model.output_names}
            self._configured = self._infer_model.configure()
        except self._errors["not_compatible"] as exc:
            self.close()
            raise ModelMismatchError(
                f"HEF '{self.hef_path}' was compiled for another Hailo architecture than this device "
                f"({self.device_arch or 'unknown'}); set hailo_arch and use the matching HEF: {exc}") from exc
        except self._errors["base"] as exc:
            self.close()
            raise DetectorError(f"cannot configure HEF '{self.hef_path}' on the Hailo device: {exc}") from exc
        LOG.info("Hailo backend ready: %s", self.describe())

    # -- output classification -------------------------------------------------------------------------
    def _plan_outputs(self, hef: Any, feature_output: str, feature_node_names: Tuple[str, ...]) -> None:
        infos = hef.get_output_vstream_infos()
        self._kinds: Dict[str, str] = {}
        described = []
        streams = []
        for info in infos:
            try:
                originals = tuple(hef.get_original_names_from_vstream_name(info.name))
            except self._errors["base"]:
                originals = ()
            described.append(f"{info.name} {tuple(info.shape)} (from {list(originals)})")
            streams.append(OutputStream(info.name, tuple(int(v) for v in info.shape),
                                        hailort_enum_name(info.format.order), originals))
        requested, required = requested_feature_output(feature_output)
        wanted = frozenset(n for n in (requested, *feature_node_names) if n)
        # The class count is not configured: the raw heads tell it (a class conv is its box conv's grid partner).
        roles = assign_output_roles(streams, ExpectedOutputs(self._input_size[1], feature_names=wanted,
                                                             box_channels=4 * REG_MAX))
        role_of = {r.name: r.role for r in roles}
        feature = [i.name for i in infos if role_of[i.name] == "features"]
        nms = [i.name for i in infos if role_of[i.name] == "nms"]
        if not required and requested and not feature:
            self.features_note = no_feature_output_note(self.hef_path, [i.name for i in infos])
        elif requested and len(feature) != 1:
            raise ModelMismatchError(
                f"feature_output '{feature_output}' matches {len(feature)} outputs of HEF '{self.hef_path}'; its "
                f"outputs are: {'; '.join(described)}. Compile the HEF with the feature end node, pass its "
                "vstream/original name as feature_output, or set feature_output to 'auto' or ''")
        self._feature_name = feature[0] if feature else None
        self._nms_name = nms[0] if nms else None
        if len(nms) > 1:
            raise ModelMismatchError(f"HEF '{self.hef_path}' has {len(nms)} NMS outputs, expected at most one")
        if self._nms_name is not None:
            order = next(s.format_order for s in streams if s.name == self._nms_name)
            if order not in _NMS_BY_CLASS_ORDERS:
                raise ModelMismatchError(f"HEF '{self.hef_path}': NMS output {self._nms_name} has format order "
                                         f"{order}; only HAILO_NMS_BY_CLASS is decoded (compile the NMS by class)")
        heads = [i for i in infos if i.name not in (self._feature_name, self._nms_name)]
        self._head_plan: List[Tuple[int, str, str]] = []
        if self._nms_name is None:
            by_grid: Dict[Tuple[int, int], List[Any]] = {}
            for info in heads:
                by_grid.setdefault((int(info.shape[0]), int(info.shape[1])), []).append(info)
            for (gh, gw), group in sorted(by_grid.items(), key=lambda kv: -kv[0][0]):
                if len(group) != 2:
                    raise ModelMismatchError(
                        f"HEF '{self.hef_path}': grid {gh}x{gw} has {len(group)} outputs, expected a box and a "
                        f"class conv (raw YOLOv8 heads); outputs are: {'; '.join(described)}")
                box = [g for g in group if role_of[g.name] == "box"]
                cls = [g for g in group if role_of[g.name] == "cls"]
                if len(box) != 1 or len(cls) != 1:
                    raise ModelMismatchError(f"HEF '{self.hef_path}': cannot tell the box head at grid {gh}x{gw}")
                self._head_plan.append((self._input_size[1] // gh, box[0].name, cls[0].name))
            if not self._head_plan:
                raise ModelMismatchError(f"HEF '{self.hef_path}' has neither an NMS output nor raw YOLO heads; "
                                         f"outputs are: {'; '.join(described)}")
            self._num_classes = int(hef_shape(infos, self._head_plan[0][2])[2])
        else:
            nms_info = next(i for i in infos if i.name == self._nms_name)
            self._num_classes = int(nms_info.nms_shape.number_of_classes)
            if heads:
                raise ModelMismatchError(f"HEF '{self.hef_path}' has unexpected outputs besides NMS and the "
                                         f"features: {[h.name for h in heads]}")
        for info in infos:
            self._kinds[info.name] = ("nms" if info.name == self._nms_name else
                                      "feature" if info.name == self._feature_name else "head")
        self._feature_info: Optional[FeatureMapInfo] = None
        if self._feature_name:
            fshape = hef_shape(infos, self._feature_name)
            self._feature_info = FeatureMapInfo(channels=int(fshape[2]), stride=self._input_size[1] // int(fshape[0]))
        self._layout = LAYOUT_NMS_BY_CLASS if self._nms_name else LAYOUT_RAW_HEADS

    def _read_quant(self) -> Dict[str, QuantParams]:
        quant = {}
        for name in self._infer_model.output_names:
            infos = self._infer_model.output(name).quant_infos
            if infos:
                quant[name] = QuantParams(float(infos[0].qp_scale), float(infos[0].qp_zp))
        return quant

    # -- interface ---------------------------------------------------------------------------------------
    @property
    def input_size(self) -> Tuple[int, int]:
        return self._input_size

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def feature_info(self) -> Optional[FeatureMapInfo]:
        return self._feature_info

    @property
    def layout(self) -> str:
        """LAYOUT_NMS_BY_CLASS or LAYOUT_RAW_HEADS."""
        return self._layout

    def _outputs_from(self, bindings: Any, inference_s: float) -> ModelOutputs:
        out = ModelOutputs(layout=self._layout, scores_are_logits=not self._scores_activated,
                           feature_channels_last=True)
        if self._nms_name:
            out.nms_by_class = bindings.output(self._nms_name).get_buffer()
        else:
            for stride, box_name, cls_name in self._head_plan:
                out.strides.append(stride)
                out.box_maps.append(bindings.output(box_name).get_buffer())
                out.class_maps.append(bindings.output(cls_name).get_buffer())
                out.box_quant.append(self._quant.get(box_name))
                out.class_quant.append(self._quant.get(cls_name))
        if self._feature_name:
            raw = bindings.output(self._feature_name).get_buffer()
            q = self._quant.get(self._feature_name)
            out.feature_map = q.dequantize(raw) if q is not None and raw.dtype != np.float32 else raw
        out.inference_s = inference_s
        return out

    @staticmethod
    def _callback(completion_info: Any, box: Dict[str, Any], done: threading.Event, t0: float) -> None:
        # Runs on HailoRT's thread: record the outcome and return (never raise, no heavy work).
        try:
            box["finished"] = time.perf_counter() - t0
            if completion_info.exception:
                box["error"] = completion_info.exception
        finally:
            done.set()

    def submit(self, letterboxed_rgb: np.ndarray) -> PendingInference:
        if self._closed:
            raise DetectorError("the Hailo backend is closed")
        w, h = self._input_size
        if letterboxed_rgb.shape != (h, w, 3) or letterboxed_rgb.dtype != np.uint8:
            raise DetectorError(f"input image must be uint8 ({h}, {w}, 3), got {letterboxed_rgb.dtype} "
                                f"{letterboxed_rgb.shape}")
        t0 = time.perf_counter()
        buffers = {name: np.empty(self._out_shapes[name],
                                  dtype=np.float32 if self._kinds[name] == "nms" else np.uint8)
                   for name in self._infer_model.output_names}
        try:
            bindings = self._configured.create_bindings(output_buffers=buffers)
            bindings.input().set_buffer(np.ascontiguousarray(letterboxed_rgb))
            self._configured.wait_for_async_ready(timeout_ms=self._timeout_ms)
            box: Dict[str, Any] = {}
            done = threading.Event()
            job = self._configured.run_async([bindings], partial(self._callback, box=box, done=done, t0=t0))
        except self._errors["timeout"] as exc:
            raise InferenceTimeoutError(f"Hailo device not ready within hailo_timeout_ms={self._timeout_ms}") \
                from exc
        except self._errors["base"] as exc:
            raise DetectorError(f"Hailo inference could not start: {exc}") from exc
        return _HailoPending(job, done, box, self._timeout_ms, self._errors, self._outputs_from, bindings)

    def describe(self) -> Dict[str, Any]:
        return {"backend": self.name, "hef": self.hef_path, "device_arch": self.device_arch,
                "input_size": list(self._input_size), "layout": self._layout, "num_classes": self._num_classes,
                "nms_output": self._nms_name, "feature_output": self._feature_name,
                "heads": [{"stride": s, "box": b, "class": c} for s, b, c in self._head_plan],
                "vdevice_users": SharedVDevice.users(), "temperature_c": SharedVDevice.chip_temperature_c()}

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        configured = getattr(self, "_configured", None)
        if configured is not None:
            try:
                configured.shutdown()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._configured = None
        SharedVDevice.release()


def hef_shape(infos: List[Any], name: str) -> Tuple[int, ...]:
    """Shape (H, W, C) of the named vstream info."""
    return tuple(int(v) for v in next(i for i in infos if i.name == name).shape)
