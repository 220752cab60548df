"""Errors raised by the Hailo toolchain (each names the file, key or value that was wrong)."""
from __future__ import annotations

from pathlib import Path


class HailoToolchainError(Exception):
    """Base class of every toolchain error; the CLI prints its message and exits non-zero."""


class CompileConfigError(HailoToolchainError):
    """A compile configuration file or value is invalid."""


class OnnxLayoutError(HailoToolchainError):
    """The ONNX graph does not match a known YOLO head layout."""


class CalibrationError(HailoToolchainError):
    """The calibration sources are unusable (missing, empty, unreadable)."""


class StageFailedError(HailoToolchainError):
    """A compile stage (parse, optimize, compile) failed; artifacts of earlier stages are kept. resumable: the
    machine, not the input, was the problem (out of memory, a crash, a time-out), so a rerun can get past it."""

    def __init__(self, message: str, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable


class HefValidationError(HailoToolchainError):
    """A .hef file is unreadable or does not match what the camera node expects."""


def check_input_file(path: Path, what: str, error: type[HailoToolchainError], kind: str, hint: str = "") -> None:
    """Raise ``error`` naming the problem when path is missing, a directory or empty.

    ``what`` names the argument ("ONNX file"), ``kind`` what the file should be ("an ONNX model").
    """
    suffix = f" ({hint})" if hint else ""
    if path.is_dir():
        raise error(f"{what} {path} is a directory, not a file{suffix}")
    if not path.is_file():
        raise error(f"{what} {path} does not exist{suffix}")
    if path.stat().st_size == 0:
        raise error(f"{what} {path} is empty (0 bytes), not {kind}{suffix}")
