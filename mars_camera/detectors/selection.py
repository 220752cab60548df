"""Backend choice: explicit `hailo` / `onnx`, or `auto` (Hailo when its runtime, a device and a HEF exist)."""
from __future__ import annotations

import glob
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors.base import BackendUnavailableError, DetectorBackend, requested_feature_output

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendChoice:
    """Which backend was created and why (logged by the node, shown in diagnostics)."""

    backend: DetectorBackend
    reason: str


def hailo_device_present() -> bool:
    """A Hailo PCIe device node exists (/dev/hailo0 from the hailo_pci driver)."""
    return bool(glob.glob("/dev/hailo*"))


def _hailo_ready(config: CameraDetectorConfig, device_present: Callable[[], bool]) -> Tuple[bool, str]:
    if not config.hef_path:
        return False, "no hef_path configured"
    if not Path(config.hef_path).is_file():
        return False, f"hef_path '{config.hef_path}' does not exist"
    if importlib.util.find_spec("hailo_platform") is None:
        return False, "hailo_platform (HailoRT) is not installed"
    if not device_present():
        return False, "no Hailo device (/dev/hailo*)"
    return True, f"hailo_platform installed, a Hailo device present and HEF '{config.hef_path}' found"


def create_backend(config: CameraDetectorConfig, device_present: Callable[[], bool] = hailo_device_present,
                   hailo_module: Any = None,
                   architecture_probe: Optional[Callable[[], Optional[str]]] = None,
                   max_batch: int = 1) -> BackendChoice:
    """Build the configured backend; `auto` logs what it picked and why. max_batch > 1 (offline counting):
    the ONNX backend runs up to that many frames per inference call (the Hailo backend runs them one by one)."""
    if config.backend in ("hailo", "auto"):
        ok, why = _hailo_ready(config, device_present) if hailo_module is None else (True, "hailo module given")
        if config.backend == "hailo" or ok:
            if config.backend == "hailo" and not ok and hailo_module is None:
                raise BackendUnavailableError(f"backend is 'hailo' but {why}")
            from mars_camera.detectors.hailo_backend import HailoDetectorBackend, device_architecture
            from mars_camera.detectors.onnx_layout_names import feature_node_names
            backend: DetectorBackend = HailoDetectorBackend(
                config.hef_path, config.input_size, config.feature_output, config.hailo_arch,
                config.hailo_timeout_ms, config.hailo_scores_activated,
                feature_node_names=feature_node_names(config.resolved_model_path,
                                                      requested_feature_output(config.feature_output)[0]),
                architecture_probe=architecture_probe or device_architecture, hailo_module=hailo_module)
            reason = f"backend={config.backend}: {why}"
            LOG.info("detector backend: hailo (%s)", reason)
            return BackendChoice(backend, reason)
        reason = f"backend=auto chose onnx because {why}"
    else:
        reason = "backend=onnx configured"
    from mars_camera.detectors.onnx_backend import OnnxDetectorBackend
    backend = OnnxDetectorBackend(config.resolved_model_path, config.input_size, config.feature_output,
                                  config.onnx_providers, config.onnx_threads, config.tensorrt_cache_dir,
                                  max_batch=max_batch)
    reason += f" (providers {backend.describe()['providers']})"
    LOG.info("detector backend: onnx (%s)", reason)
    return BackendChoice(backend, reason)
