"""Configuration of the per-camera detector (backend, model, thresholds, features): one frozen, validated object.

The ROS node declares one parameter per field (mars_ros.node_pattern.parameters); offline tools use
config_from_dict. Defaults live here only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from mars_core.package_files import share_file
from mars_core.config_schema import ConfigError, config_field

DEFAULT_MODEL_NAME = "flower_yolov8n.onnx"


def default_model_path() -> str:
    """The embedded default model (trained on the simulator's rendered images, see models/detector/README.md),
    wherever the package is installed (source tree, ROS share folder, pip package data)."""
    try:
        return str(share_file(f"models/detector/{DEFAULT_MODEL_NAME}"))
    except FileNotFoundError:
        return str(Path(__file__).resolve().parents[1] / "models" / "detector" / DEFAULT_MODEL_NAME)


DEFAULT_MODEL_PATH = default_model_path()

BACKENDS = ("auto", "hailo", "onnx")
FEATURE_ENCODINGS = ("none", "float32", "uint8")
HAILO_ARCHS = ("", "hailo8", "hailo8l")


@dataclass(frozen=True)
class CameraDetectorConfig:
    """Everything that decides which boxes and features come out of a frame."""

    backend: str = config_field("auto", "Detector backend: hailo, onnx, or auto (hailo when a device and a HEF "
                                "are available, else onnx; the choice and its reason are logged)",
                                choices=BACKENDS, read_only=True)
    model_path: str = config_field("", "ONNX model file; empty = the embedded default "
                                   "models/detector/flower_yolov8n.onnx", read_only=True)
    hef_path: str = config_field("", "Hailo HEF file compiled from the same model (backend hailo/auto)",
                                 read_only=True)
    model_id: str = config_field("", "Identifier stamped on features (features of different ids are never "
                                 "compared); empty = model file name + content hash", read_only=True)
    input_width: int = config_field(320, "Model input width in pixels (must match the model/HEF)",
                                    minimum=32, maximum=4096, read_only=True)
    input_height: int = config_field(320, "Model input height in pixels (must match the model/HEF)",
                                     minimum=32, maximum=4096, read_only=True)
    score_threshold: float = config_field(0.25, "Minimum detection score kept", minimum=0.0, maximum=1.0)
    iou_threshold: float = config_field(0.5, "IoU above which NMS suppresses the lower-scored box of a class",
                                        minimum=0.0, maximum=1.0)
    max_detections: int = config_field(300, "Maximum boxes per frame after NMS", minimum=1, maximum=10000)
    class_filter: Tuple[int, ...] = config_field((), "Class ids kept (empty = all classes)", minimum=0)
    feature_output: str = config_field("auto", "Name of the model output holding the neck feature map; 'auto' = "
                                       "the output 'features' (mars-hailo export's) when the model has one, else "
                                       "none with a warning (a plain Ultralytics/model-zoo export: the tracker "
                                       "then associates on motion only); empty = no features", read_only=True)
    feature_dim: int = config_field(64, "Values per feature vector (0 = the pooled size, channels x pool^2; "
                                    "smaller values use a fixed orthogonal projection)", minimum=0, maximum=4096,
                                    read_only=True)
    feature_pool_size: int = config_field(3, "ROI-align bins per side for feature pooling", minimum=1, maximum=7,
                                          read_only=True)
    feature_context: float = config_field(4.0, "Pooled region = the box scaled by this factor about its centre "
                                          "(surroundings identify look-alike flowers; 1 = the box only)",
                                          minimum=1.0, maximum=10.0, read_only=True)
    feature_encoding: str = config_field("uint8", "Feature transport encoding: none, float32, or uint8 "
                                         "(4x smaller)", choices=FEATURE_ENCODINGS)
    letterbox_value: int = config_field(114, "Grey level of the letterbox padding (as in training)",
                                        minimum=0, maximum=255, read_only=True)
    onnx_providers: Tuple[str, ...] = config_field(("CPUExecutionProvider",), "ONNX Runtime execution providers "
                                                   "in priority order (e.g. TensorrtExecutionProvider, "
                                                   "CUDAExecutionProvider, CPUExecutionProvider)", read_only=True)
    tensorrt_cache_dir: str = config_field("", "Folder for ONNX Runtime TensorRT engine caches (empty = "
                                           "~/.cache/mars_counting/tensorrt)", read_only=True)
    onnx_threads: int = config_field(0, "ONNX Runtime intra-op threads (0 = runtime default)", minimum=0,
                                     maximum=256, read_only=True)
    hailo_arch: str = config_field("", "Expected Hailo architecture: hailo8, hailo8l, or empty to accept "
                                   "whatever the device reports", choices=HAILO_ARCHS, read_only=True)
    hailo_timeout_ms: int = config_field(1000, "Hailo inference timeout in milliseconds (a timeout is "
                                         "reported as an error, the node keeps running)", minimum=1,
                                         maximum=600000)
    hailo_scores_activated: bool = config_field(True, "Raw-head HEFs: class outputs already went through the "
                                                "sigmoid on chip (Hailo model zoo change_output_activation)",
                                                read_only=True)

    def __post_init__(self) -> None:
        if self.backend == "hailo" and not self.hef_path:
            raise ConfigError("hef_path must be set when backend is 'hailo'")
        if self.input_width % 32 or self.input_height % 32:
            raise ConfigError(f"input_width and input_height must be multiples of 32 (YOLO stride), got "
                              f"{self.input_width}x{self.input_height}")
        if not self.onnx_providers:
            raise ConfigError("onnx_providers must name at least one provider, e.g. CPUExecutionProvider")

    @property
    def input_size(self) -> Tuple[int, int]:
        """(width, height) of the model input."""
        return self.input_width, self.input_height

    @property
    def resolved_model_path(self) -> str:
        """model_path, or the embedded default model."""
        return self.model_path or DEFAULT_MODEL_PATH
