"""Hailo model toolchain: YOLO (.pt/.onnx) -> ONNX with a feature output -> calibration set -> .har -> .hef.

ROS-free. The Dataflow Compiler (``hailo_sdk_client``) and HailoRT (``hailo_platform``) are imported lazily
and only inside the functions that need them, so inspection, calibration, planning and HEF header validation
work on any machine. The camera node reuses :mod:`mars_hailo.hef_validation`.
"""
from __future__ import annotations

from mars_hailo.errors import HailoToolchainError

__all__ = ["HailoToolchainError"]
