"""The backend interface: letterboxed RGB uint8 in, model outputs (one of three layouts) + feature map out."""
from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


class DetectorError(RuntimeError):
    """Inference failed (the node reports it in diagnostics and continues with the next frame)."""


class InferenceTimeoutError(DetectorError):
    """The accelerator did not answer within the configured timeout."""


class ModelMismatchError(DetectorError):
    """The model/HEF disagrees with the configuration (input size, outputs, architecture): fix the config."""


class BackendUnavailableError(DetectorError):
    """The backend's runtime or device is not present on this machine."""


LAYOUT_DECODED = "decoded"            # stock ultralytics export: (1, 4+C, A), boxes decoded in input pixels
LAYOUT_RAW_HEADS = "raw_heads"        # per-scale DFL box (4*reg_max ch) + class maps, NHWC
LAYOUT_NMS_BY_CLASS = "nms_by_class"  # Hailo on-chip NMS: list per class of (n, 5) [y0, x0, y1, x1, score]


@dataclass(frozen=True)
class QuantParams:
    """real = (q - zero_point) * scale."""

    scale: float
    zero_point: float

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """Float32 values of a quantized array."""
        return (q.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)


@dataclass
class ModelOutputs:
    """What a backend returns for one frame, before decoding."""

    layout: str
    decoded: Optional[np.ndarray] = None
    box_maps: List[np.ndarray] = field(default_factory=list)
    class_maps: List[np.ndarray] = field(default_factory=list)
    box_quant: List[Optional[QuantParams]] = field(default_factory=list)
    class_quant: List[Optional[QuantParams]] = field(default_factory=list)
    strides: List[int] = field(default_factory=list)
    scores_are_logits: bool = True
    nms_by_class: Optional[Sequence[np.ndarray]] = None
    feature_map: Optional[np.ndarray] = None
    feature_channels_last: bool = True
    inference_s: float = 0.0
    to_tensor_s: float = 0.0   # host time converting the letterboxed image to the runtime's input tensor


class PendingInference(abc.ABC):
    """A submitted frame; result() blocks (raising InferenceTimeoutError / DetectorError on failure)."""

    @abc.abstractmethod
    def result(self) -> ModelOutputs:
        """The outputs of the submitted frame."""


FEATURE_OUTPUT_AUTO = "auto"
EXPORTED_FEATURE_OUTPUT = "features"   # the name mars-hailo export gives the feature output


def requested_feature_output(configured: str) -> Tuple[str, bool]:
    """The feature output name to look for and whether the model must have it ('auto': 'features', optional)."""
    if configured == FEATURE_OUTPUT_AUTO:
        return EXPORTED_FEATURE_OUTPUT, False
    return configured, bool(configured)


def no_feature_output_note(model: str, outputs: Any) -> str:
    """The one-line warning for a model without a feature output under feature_output 'auto'."""
    return (f"model '{model}' has no feature output '{EXPORTED_FEATURE_OUTPUT}' (outputs: {outputs}): no "
            f"appearance features are published and the tracker associates on motion only; `mars-hailo export` "
            f"adds the feature output, feature_output: '' silences this")


@dataclass(frozen=True)
class FeatureMapInfo:
    """Shape facts of the feature output, for building the feature extractor."""

    channels: int
    stride: int


class DetectorBackend(abc.ABC):
    """One model on one runtime. submit() may overlap with the caller's pre/post-processing."""

    name: str = "backend"
    # Why the model runs without appearance features although they were wanted ('' = features or none asked for).
    features_note: str = ""

    @property
    @abc.abstractmethod
    def input_size(self) -> Tuple[int, int]:
        """(width, height) of the model input."""

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """Detector classes."""

    @property
    @abc.abstractmethod
    def feature_info(self) -> Optional[FeatureMapInfo]:
        """The feature output's channels and stride, or None when the model has none."""

    @abc.abstractmethod
    def submit(self, letterboxed_rgb: np.ndarray) -> PendingInference:
        """Start inference on an (H, W, 3) uint8 RGB letterboxed image."""

    def infer(self, letterboxed_rgb: np.ndarray) -> ModelOutputs:
        """Synchronous inference."""
        return self.submit(letterboxed_rgb).result()

    @property
    def max_batch(self) -> int:
        """Frames one infer_batch() call runs through the model at once (1: one by one)."""
        return 1

    def infer_batch(self, letterboxed_rgb: Sequence[np.ndarray]) -> List[ModelOutputs]:
        """Synchronous inference of several images, one ModelOutputs each (backends that batch override it)."""
        return [self.infer(image) for image in letterboxed_rgb]

    @abc.abstractmethod
    def describe(self) -> Dict[str, Any]:
        """Facts for logs and diagnostics (runtime, model, providers/device, outputs)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the runtime/device (idempotent)."""

    def __enter__(self) -> "DetectorBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def model_id_for(path: str) -> str:
    """'<file stem>-<first 12 hex of sha256>': changes whenever the weights change."""
    p = Path(path)
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{p.stem}-{digest.hexdigest()[:12]}"
