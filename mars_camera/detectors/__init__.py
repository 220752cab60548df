"""Detector backends with one interface (ONNX Runtime, Hailo InferModel) and the `auto` selection."""
from __future__ import annotations

from mars_camera.detectors.base import (
    BackendUnavailableError,
    DetectorBackend,
    DetectorError,
    InferenceTimeoutError,
    ModelMismatchError,
    ModelOutputs,
    PendingInference,
)
from mars_camera.detectors.selection import BackendChoice, create_backend

__all__ = ["BackendUnavailableError", "DetectorBackend", "DetectorError", "InferenceTimeoutError",
           "ModelMismatchError", "ModelOutputs", "PendingInference", "BackendChoice", "create_backend"]
