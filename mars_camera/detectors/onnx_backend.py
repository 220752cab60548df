"""ONNX Runtime backend (CPU, CUDA, TensorRT providers as configured): stock ultralytics export + feature output."""
from __future__ import annotations

import concurrent.futures
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mars_camera.detectors.base import (
    LAYOUT_DECODED,
    BackendUnavailableError,
    DetectorBackend,
    DetectorError,
    FeatureMapInfo,
    ModelMismatchError,
    ModelOutputs,
    PendingInference,
    no_feature_output_note,
    requested_feature_output,
)
from mars_camera.detectors.onnx_batching import dynamic_batch_model
from mars_camera.yolo.letterbox import input_tensor_from_letterboxed

LOG = logging.getLogger(__name__)


class _OnnxPending(PendingInference):
    def __init__(self, future: "concurrent.futures.Future[ModelOutputs]") -> None:
        self._future = future

    def result(self) -> ModelOutputs:
        try:
            return self._future.result()
        except DetectorError:
            raise
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidArgument types
            raise DetectorError(f"ONNX Runtime inference failed: {exc}") from exc


class OnnxDetectorBackend(DetectorBackend):
    """Runs the model in a single worker thread (ONNX Runtime releases the GIL, so the caller's
    pre/post-processing of neighbouring frames overlaps with inference)."""

    name = "onnx"

    def __init__(self, model_path: str, input_size: Tuple[int, int], feature_output: str = "features",
                 providers: Sequence[str] = ("CPUExecutionProvider",), threads: int = 0,
                 tensorrt_cache_dir: str = "", max_batch: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a runtime requirement
            raise BackendUnavailableError(f"onnxruntime is not installed: {exc}") from exc
        path = Path(model_path)
        if not path.is_file():
            raise ModelMismatchError(f"model_path: ONNX model '{model_path}' does not exist")
        available = ort.get_available_providers()
        chosen = [p for p in providers if p in available]
        missing = [p for p in providers if p not in available]
        if missing:
            LOG.warning("ONNX Runtime providers %s are not available here (available: %s)", missing, available)
        if not chosen:
            raise BackendUnavailableError(f"onnx_providers: none of {list(providers)} is available; "
                                          f"this onnxruntime offers {available}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # TensorRT builds an engine per model and GPU (minutes on a Jetson): cache it across starts, FP16.
        trt_cache = tensorrt_cache_dir or str(Path.home() / ".cache" / "mars_counting" / "tensorrt")
        provider_list: List[Any] = [
            (p, {"trt_engine_cache_enable": True, "trt_engine_cache_path": trt_cache, "trt_fp16_enable": True})
            if p == "TensorrtExecutionProvider" else p for p in chosen]
        try:
            # Batches (offline counting) need a batch axis; batch 1 (the live camera) runs the file as it is.
            model: Any = str(path) if max_batch == 1 else dynamic_batch_model(path)
            self._session = ort.InferenceSession(model, sess_options=options, providers=provider_list)
        except Exception as exc:
            raise ModelMismatchError(f"model_path: cannot load ONNX model '{model_path}': {exc}") from exc
        self.model_path = str(path)
        self.providers = list(self._session.get_providers())

        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelMismatchError(f"model '{model_path}' has {len(inputs)} inputs, expected 1 image input")
        self._input_name = inputs[0].name
        shape = list(inputs[0].shape)
        want_w, want_h = int(input_size[0]), int(input_size[1])
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelMismatchError(f"model '{model_path}' input '{self._input_name}' has shape {shape}, "
                                     "expected (1, 3, H, W)")
        model_h, model_w = shape[2], shape[3]
        if isinstance(model_h, int) and isinstance(model_w, int) and (model_w, model_h) != (want_w, want_h):
            raise ModelMismatchError(
                f"input_width/input_height are {want_w}x{want_h} but model '{model_path}' takes "
                f"{model_w}x{model_h}: set input_width={model_w} input_height={model_h}")
        self._input_size = (want_w, want_h)

        outputs = {o.name: list(o.shape) for o in self._session.get_outputs()}
        self._feature_name: Optional[str] = None
        wanted, required = requested_feature_output(feature_output)
        if wanted in outputs:
            self._feature_name = wanted
        elif required:
            raise ModelMismatchError(
                f"feature_output '{feature_output}' is not an output of '{model_path}' (outputs: "
                f"{sorted(outputs)}); export with the feature output, or set feature_output to 'auto' or ''")
        elif wanted:
            self.features_note = no_feature_output_note(model_path, sorted(outputs))
        detection = [n for n, s in outputs.items() if n != self._feature_name and len(s) == 3]
        if len(detection) != 1:
            raise ModelMismatchError(f"model '{model_path}' must have exactly one (1, 4+classes, anchors) "
                                     f"detection output besides the features, found outputs {outputs}")
        self._detection_name = detection[0]
        det_shape = outputs[self._detection_name]
        if not isinstance(det_shape[1], int) or det_shape[1] < 5:
            raise ModelMismatchError(f"detection output '{self._detection_name}' has shape {det_shape}, "
                                     "expected (1, 4+classes, anchors)")
        self._num_classes = int(det_shape[1]) - 4
        self._output_names: List[str] = [self._detection_name] + ([self._feature_name] if self._feature_name else [])
        self._feature_info: Optional[FeatureMapInfo] = None
        if self._feature_name:
            fshape = outputs[self._feature_name]
            if len(fshape) != 4 or not all(isinstance(v, int) for v in fshape[1:]):
                raise ModelMismatchError(f"feature output '{self._feature_name}' has shape {fshape}, expected a "
                                         "static (1, C, H, W) neck map")
            self._feature_info = FeatureMapInfo(channels=int(fshape[1]), stride=want_h // int(fshape[2]))
        self._max_batch = int(max_batch)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-infer")
        self._closed = False

    @property
    def input_size(self) -> Tuple[int, int]:
        return self._input_size

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def feature_info(self) -> Optional[FeatureMapInfo]:
        return self._feature_info

    def _run(self, letterboxed_rgb: np.ndarray) -> ModelOutputs:
        t0 = time.perf_counter()
        tensor = input_tensor_from_letterboxed(letterboxed_rgb)
        t1 = time.perf_counter()
        results = self._session.run(self._output_names, {self._input_name: tensor})
        out = ModelOutputs(layout=LAYOUT_DECODED, decoded=results[0],
                           feature_map=results[1] if self._feature_name else None,
                           feature_channels_last=False)
        out.to_tensor_s = t1 - t0
        out.inference_s = time.perf_counter() - t1
        return out

    @property
    def max_batch(self) -> int:
        return self._max_batch

    def infer_batch(self, letterboxed_rgb: Sequence[np.ndarray]) -> List[ModelOutputs]:
        """Up to max_batch frames per session.run (the same outputs per frame as one by one)."""
        w, h = self._input_size
        for image in letterboxed_rgb:
            if image.shape != (h, w, 3):
                raise DetectorError(f"input image must be ({h}, {w}, 3), got {image.shape}")
        out: List[ModelOutputs] = []
        for start in range(0, len(letterboxed_rgb), self._max_batch):
            chunk = letterboxed_rgb[start:start + self._max_batch]
            t0 = time.perf_counter()
            tensor = np.concatenate([input_tensor_from_letterboxed(image) for image in chunk])
            t1 = time.perf_counter()
            try:
                results = self._session.run(self._output_names, {self._input_name: tensor})
            except Exception as exc:
                raise DetectorError(f"ONNX Runtime inference of {len(chunk)} frames failed: {exc}") from exc
            t2 = time.perf_counter()
            for k in range(len(chunk)):
                frame_out = ModelOutputs(layout=LAYOUT_DECODED, decoded=results[0][k:k + 1],
                                         feature_map=results[1][k:k + 1] if self._feature_name else None,
                                         feature_channels_last=False)
                frame_out.to_tensor_s = (t1 - t0) / len(chunk)
                frame_out.inference_s = (t2 - t1) / len(chunk)
                out.append(frame_out)
        return out

    def submit(self, letterboxed_rgb: np.ndarray) -> PendingInference:
        if self._closed:
            raise DetectorError("the ONNX backend is closed")
        w, h = self._input_size
        if letterboxed_rgb.shape != (h, w, 3):
            raise DetectorError(f"input image must be ({h}, {w}, 3), got {letterboxed_rgb.shape}")
        return _OnnxPending(self._executor.submit(self._run, letterboxed_rgb))

    def infer(self, letterboxed_rgb: np.ndarray) -> ModelOutputs:
        w, h = self._input_size
        if letterboxed_rgb.shape != (h, w, 3):
            raise DetectorError(f"input image must be ({h}, {w}, 3), got {letterboxed_rgb.shape}")
        try:
            return self._run(letterboxed_rgb)
        except Exception as exc:
            raise DetectorError(f"ONNX Runtime inference failed: {exc}") from exc

    def describe(self) -> Dict[str, Any]:
        return {"backend": self.name, "model": self.model_path, "providers": self.providers,
                "input_size": list(self._input_size), "num_classes": self._num_classes, "max_batch": self._max_batch,
                "detection_output": self._detection_name, "feature_output": self._feature_name,
                "feature_channels": self._feature_info.channels if self._feature_info else 0,
                "feature_stride": self._feature_info.stride if self._feature_info else 0}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True)
