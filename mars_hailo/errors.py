"""Errors raised by the Hailo toolchain (each names the file, key or value that was wrong)."""
from __future__ import annotations


class HailoToolchainError(Exception):
    """Base class of every toolchain error; the CLI prints its message and exits non-zero."""


class CompileConfigError(HailoToolchainError):
    """A compile configuration file or value is invalid."""


class OnnxLayoutError(HailoToolchainError):
    """The ONNX graph does not match a known YOLO head layout."""


class CalibrationError(HailoToolchainError):
    """The calibration sources are unusable (missing, empty, unreadable)."""


class StageFailedError(HailoToolchainError):
    """A compile stage (parse, optimize, compile) failed; artifacts of earlier stages are kept."""


class HefValidationError(HailoToolchainError):
    """A .hef file is unreadable or does not match what the camera node expects."""
