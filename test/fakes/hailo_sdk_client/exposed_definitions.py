"""Enums of hailo_sdk_client.exposed_definitions used by callers."""
from __future__ import annotations

from enum import Enum


class States(str, Enum):
    UNINITIALIZED = "uninitialized"
    HAILO_MODEL = "hailo_model"
    FP_OPTIMIZED_MODEL = "fp_optimized_model"
    QUANTIZED_MODEL = "quantized_model"
    COMPILED_MODEL = "compiled_model"


class CalibrationDataType(str, Enum):
    auto = "auto"
    np_array = "np_array"
    dataset = "dataset"
    npy_file = "npy_file"
    npy_dir = "npy_dir"


class InferenceContext(str, Enum):
    SDK_NATIVE = "sdk_native"
    SDK_FP_OPTIMIZED = "sdk_fp_optimized"
    SDK_QUANTIZED = "sdk_quantized"
    SDK_HAILO_HW = "sdk_hailo_hw"
