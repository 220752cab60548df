"""FrameDetector: frame -> Detections (boxes in original-image pixels + features) with per-stage timings.

The pipeline the camera node calls: letterbox -> backend (ONNX Runtime or Hailo, asynchronous) -> decode
-> class-aware NMS (or the on-chip NMS result) -> ROI-aligned features -> boxes mapped back to the image.
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mars_core.detections import DetectionFrame, Detections
from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors.base import (
    LAYOUT_DECODED,
    LAYOUT_NMS_BY_CLASS,
    LAYOUT_RAW_HEADS,
    DetectorBackend,
    DetectorError,
    ModelMismatchError,
    ModelOutputs,
    PendingInference,
    model_id_for,
)
from mars_camera.detectors.selection import create_backend
from mars_core.feature_codec import EncodedFeatures, FeatureEncoding, encode_features
from mars_camera.features.box_features import BoxFeatureExtractor
from mars_camera.frame_sources.base import Frame
from mars_camera.yolo.decoding import decode_decoded_output, decode_raw_heads
from mars_camera.yolo.hailo_nms import parse_nms_by_class
from mars_camera.yolo.letterbox import LetterboxTransform, letterbox
from mars_camera.yolo.nms import class_aware_nms, filter_candidates

LOG = logging.getLogger(__name__)

_ENCODINGS = {"none": FeatureEncoding.NONE, "float32": FeatureEncoding.FLOAT32, "uint8": FeatureEncoding.UINT8}


@dataclass(frozen=True)
class StageTimings:
    """Seconds spent per stage for one frame. inference = submit to result (including queueing and, for
    ONNX, the image-to-tensor conversion, which is also reported alone as to_tensor_s)."""

    letterbox_s: float = 0.0
    inference_s: float = 0.0
    decode_s: float = 0.0
    nms_s: float = 0.0
    features_s: float = 0.0
    to_tensor_s: float = 0.0

    @property
    def cpu_outside_inference_s(self) -> float:
        """Host CPU time of the stages around inference (message fill is the node's, not counted here)."""
        return self.letterbox_s + self.to_tensor_s + self.decode_s + self.nms_s + self.features_s

    def as_ms(self) -> Dict[str, float]:
        """Milliseconds per stage (for diagnostics)."""
        return {"letterbox_ms": self.letterbox_s * 1e3, "to_tensor_ms": self.to_tensor_s * 1e3,
                "inference_ms": self.inference_s * 1e3, "decode_ms": self.decode_s * 1e3,
                "nms_ms": self.nms_s * 1e3, "features_ms": self.features_s * 1e3}


@dataclass(frozen=True)
class DetectionResult:
    """The detections of one frame, their metadata, and where the time went."""

    frame: DetectionFrame
    timings: StageTimings


@dataclass
class PendingFrame:
    """A frame whose inference is running."""

    frame: Frame
    transform: LetterboxTransform
    pending: PendingInference
    letterbox_s: float
    submitted_at: float


class FrameDetector:
    """Owns a backend (created from the config unless given) and turns frames into DetectionFrames."""

    def __init__(self, config: CameraDetectorConfig, backend: Optional[DetectorBackend] = None,
                 camera_name: str = "camera", max_batch: int = 1) -> None:
        self.config = config
        self.camera_name = camera_name
        owns_backend = backend is None
        if backend is None:
            choice = create_backend(config, max_batch=max_batch)
            backend, self.backend_reason = choice.backend, choice.reason
        else:
            self.backend_reason = f"backend '{backend.name}' given by the caller"
        self.backend = backend
        try:
            self._setup_features(config, backend)
        except Exception:
            if owns_backend:  # do not leak the device (a shared VDevice reference) on a bad configuration
                backend.close()
            raise

    def _setup_features(self, config: CameraDetectorConfig, backend: DetectorBackend) -> None:
        """Check the backend against the config; build the model id and the feature extractor."""
        if tuple(backend.input_size) != config.input_size:
            raise ModelMismatchError(f"input_width/input_height {config.input_size} differ from the backend's "
                                     f"model input {backend.input_size}")
        self.model_id = config.model_id or model_id_for(self._model_file())
        self._encoding = _ENCODINGS[config.feature_encoding]
        self.features: Optional[BoxFeatureExtractor] = None
        info = backend.feature_info
        if info is not None and self._encoding != FeatureEncoding.NONE:
            native = info.channels * config.feature_pool_size ** 2
            if config.feature_dim > native:
                raise ModelMismatchError(f"feature_dim {config.feature_dim} exceeds what the feature output gives "
                                         f"({info.channels} channels x {config.feature_pool_size}^2 bins = "
                                         f"{native}); lower feature_dim or raise feature_pool_size")
            self.features = BoxFeatureExtractor(info.channels, info.stride, config.feature_dim,
                                                config.feature_pool_size, self.model_id,
                                                context=config.feature_context)
        self.features_note: str = getattr(backend, "features_note", "")  # stand-in backends may lack it
        if self.features_note:
            LOG.warning("camera '%s': %s", self.camera_name, self.features_note)

    @property
    def appearance(self) -> str:
        """What the detections carry for appearance, for logs and diagnostics."""
        if self.features is not None:
            return f"{self.features.feature_dim}-d features of model {self.features.model_id}"
        if self.features_note:
            return "none: the model has no feature output (tracker associates on motion only)"
        if self._encoding == FeatureEncoding.NONE:
            return "none: feature_encoding is 'none'"
        return "none: feature_output is ''"

    @property
    def model_file(self) -> str:
        """The model file the backend loaded (.hef or .onnx), for diagnostics."""
        return self._model_file()

    def _model_file(self) -> str:
        described = self.backend.describe()
        path = described.get("hef") or described.get("model") or self.config.resolved_model_path
        return str(path) if Path(str(path)).is_file() else self.config.resolved_model_path

    @property
    def feature_model_id(self) -> str:
        """The id stamped on features ('' when features are off)."""
        return self.features.model_id if self.features else ""

    # -- pipeline stages ---------------------------------------------------------------------------------
    def submit(self, frame: Frame) -> PendingFrame:
        """Letterbox the frame and start inference (returns immediately on asynchronous backends)."""
        t0 = time.perf_counter()
        model_input, transform = letterbox(frame.image, self.config.input_size, self.config.letterbox_value)
        t1 = time.perf_counter()
        pending = self.backend.submit(model_input)
        return PendingFrame(frame, transform, pending, t1 - t0, time.perf_counter())

    def finish(self, pending: PendingFrame) -> DetectionResult:
        """Wait for the inference of a submitted frame and post-process it."""
        outputs = pending.pending.result()
        inference_s = time.perf_counter() - pending.submitted_at
        return self._postprocess(pending.frame, pending.transform, outputs, pending.letterbox_s, inference_s)

    def detect(self, frame: Frame) -> DetectionResult:
        """Synchronous: one frame in, its detections out."""
        t0 = time.perf_counter()
        model_input, transform = letterbox(frame.image, self.config.input_size, self.config.letterbox_value)
        t1 = time.perf_counter()
        outputs = self.backend.infer(model_input)
        t2 = time.perf_counter()
        return self._postprocess(frame, transform, outputs, t1 - t0, t2 - t1)

    def detect_batch(self, frames: Sequence[Frame], camera_names: Optional[Sequence[str]] = None
                     ) -> List[DetectionResult]:
        """Several frames through as few inference calls as the backend's max_batch allows (offline); the same
        detections per frame as detect(). camera_names: the camera of each frame (default: this detector's)."""
        t0 = time.perf_counter()
        inputs = [letterbox(f.image, self.config.input_size, self.config.letterbox_value) for f in frames]
        t1 = time.perf_counter()
        outputs = self.backend.infer_batch([model_input for model_input, _ in inputs])
        t2 = time.perf_counter()
        n = max(len(frames), 1)
        names = list(camera_names) if camera_names is not None else [self.camera_name] * len(frames)
        return [self._postprocess(frame, transform, out, (t1 - t0) / n, (t2 - t1) / n, camera)
                for frame, (_, transform), out, camera in zip(frames, inputs, outputs, names)]

    def run(self, frames: Iterable[Frame], depth: int = 2,
            on_error: Optional[Callable[[Frame, DetectorError], None]] = None) -> Iterator[DetectionResult]:
        """Pipelined: keeps up to `depth` frames in flight so capture, inference and post-processing overlap.

        With on_error, a frame whose inference fails (timeout, device error) is reported there and skipped;
        without it the error propagates.
        """
        in_flight: Deque[PendingFrame] = collections.deque()

        def finish_oldest() -> Optional[DetectionResult]:
            pending = in_flight.popleft()
            try:
                return self.finish(pending)
            except DetectorError as exc:
                if on_error is None:
                    raise
                on_error(pending.frame, exc)
                return None

        for frame in frames:
            try:
                in_flight.append(self.submit(frame))
            except DetectorError as exc:
                if on_error is None:
                    raise
                on_error(frame, exc)
            if len(in_flight) >= depth:
                result = finish_oldest()
                if result is not None:
                    yield result
        while in_flight:
            result = finish_oldest()
            if result is not None:
                yield result

    def postprocess_outputs(self, outputs: ModelOutputs, transform: LetterboxTransform
                            ) -> Tuple[Detections, float, float, float]:
        """Model outputs -> Detections in image pixels; returns (detections, decode_s, nms_s, features_s)."""
        cfg = self.config
        t0 = time.perf_counter()
        in_w, in_h = cfg.input_size
        if outputs.layout == LAYOUT_NMS_BY_CLASS:
            xyxy, scores, class_ids = parse_nms_by_class(outputs.nms_by_class or [], in_w, in_h,
                                                         cfg.score_threshold)
            if cfg.class_filter:
                keep = np.isin(class_ids, np.asarray(cfg.class_filter, dtype=np.int32))
                xyxy, scores, class_ids = xyxy[keep], scores[keep], class_ids[keep]
            t1 = time.perf_counter()
            order = np.arange(min(len(scores), cfg.max_detections))  # already NMSed on chip, sorted by score
        else:
            if outputs.layout == LAYOUT_DECODED:
                assert outputs.decoded is not None, "a 'decoded' layout carries the decoded tensor"
                candidates = decode_decoded_output(outputs.decoded, self.backend.num_classes, cfg.score_threshold)
            elif outputs.layout == LAYOUT_RAW_HEADS:
                candidates = decode_raw_heads(
                    outputs.box_maps, outputs.class_maps, outputs.strides, outputs.scores_are_logits,
                    cfg.score_threshold,
                    [None if q is None else (q.scale, q.zero_point) for q in outputs.box_quant] or None,
                    [None if q is None else (q.scale, q.zero_point) for q in outputs.class_quant] or None)
            else:
                raise ValueError(f"unknown model output layout {outputs.layout!r}")
            xyxy, scores, class_ids = filter_candidates(candidates, cfg.score_threshold, cfg.class_filter)
            t1 = time.perf_counter()
            order = class_aware_nms(xyxy, scores, class_ids, cfg.iou_threshold, cfg.max_detections)
        xyxy, scores, class_ids = xyxy[order], scores[order], class_ids[order]
        t2 = time.perf_counter()
        features = None
        if self.features is not None and outputs.feature_map is not None:
            features = self.features(outputs.feature_map, xyxy, outputs.feature_channels_last)
        t3 = time.perf_counter()
        detections = Detections(transform.boxes_to_image(xyxy), scores, class_ids, features,
                                self.feature_model_id if features is not None else "")
        return detections, t1 - t0, t2 - t1, t3 - t2

    @staticmethod
    def _to_reference(detections: Detections, frame: Frame) -> Detections:
        if (frame.boxes_width, frame.boxes_height) == (frame.width, frame.height):
            return detections
        sx = frame.boxes_width / frame.width
        sy = frame.boxes_height / frame.height
        xyxy = detections.xyxy * np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(xyxy, detections.scores, detections.class_ids, detections.features,
                          detections.feature_model_id)

    def _postprocess(self, frame: Frame, transform: LetterboxTransform, outputs: ModelOutputs,
                     letterbox_s: float, inference_s: float, camera_name: str = "") -> DetectionResult:
        detections, decode_s, nms_s, features_s = self.postprocess_outputs(outputs, transform)
        detections = self._to_reference(detections, frame)
        det_frame = DetectionFrame(camera_name or self.camera_name, int(frame.stamp_ns), int(frame.frame_number),
                                   frame.boxes_width, frame.boxes_height, detections)
        return DetectionResult(det_frame, StageTimings(letterbox_s, inference_s, decode_s, nms_s, features_s,
                                                       outputs.to_tensor_s))

    def encode_features(self, detections: Detections) -> EncodedFeatures:
        """The FeatureBlock payload of a frame in the configured transport encoding."""
        return encode_features(detections.features, detections.feature_model_id, self._encoding)

    def describe(self) -> Dict[str, Any]:
        """Backend facts + model/feature ids (for the node's start-up log and diagnostics)."""
        info = dict(self.backend.describe())
        info.update({"model_id": self.model_id, "feature_model_id": self.feature_model_id,
                     "feature_dim": self.features.feature_dim if self.features else 0,
                     "feature_encoding": self.config.feature_encoding, "backend_reason": self.backend_reason})
        return info

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()

    def __enter__(self) -> "FrameDetector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
