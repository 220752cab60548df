"""FAKE picamera2 for tests: the real Picamera2 API surface used by the camera node (configurations with main
and lores streams, capture_request / make_array / get_metadata / release, SensorTimestamp on
CLOCK_BOOTTIME, paced at the configured FrameRate) serving rendered frames of yellow "flowers" drifting over
green. Fault injection lives in picamera2._fake_control (not part of the real package).
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import cv2
import numpy as np

from picamera2 import _fake_control as _fc

__all__ = ["Picamera2", "CompletedRequest"]

_FORMATS = ("XRGB8888", "XBGR8888", "RGB888", "BGR888", "YUV420")


class CompletedRequest:
    """A completed capture: arrays of every configured stream plus the frame's metadata."""

    def __init__(self, picam2: "Picamera2", frame_index: int, sensor_ts: int) -> None:
        self.picam2 = picam2
        self._index = frame_index
        self._ts = sensor_ts
        self._released = False
        self._scene = _fc.render_scene(picam2._sensor_size, frame_index)
        self.request = object()

    def _check(self) -> None:
        if self._released:
            raise RuntimeError("Request has been released")

    def make_array(self, name: str) -> np.ndarray:
        self._check()
        cfg = self.picam2.camera_config
        stream = cfg.get(name) if cfg else None
        if not stream:
            raise KeyError(name)
        w, h = stream["size"]
        bgr = cv2.resize(self._scene, (w, h), interpolation=cv2.INTER_AREA)
        fmt = stream["format"]
        if fmt == "RGB888":      # libcamera RGB888 = [B, G, R] in memory (OpenCV order)
            return bgr
        if fmt == "BGR888":      # [R, G, B] in memory
            return np.ascontiguousarray(bgr[:, :, ::-1])
        if fmt == "XRGB8888":    # [B, G, R, 255]
            return np.concatenate([bgr, np.full((h, w, 1), 255, np.uint8)], axis=2)
        if fmt == "XBGR8888":    # [R, G, B, 255]
            return np.concatenate([bgr[:, :, ::-1], np.full((h, w, 1), 255, np.uint8)], axis=2)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # YUV420: (h*3/2, w)

    def get_metadata(self) -> Dict[str, Any]:
        self._check()
        duration_us = int(round(1e6 / self.picam2._frame_rate))
        return {"SensorTimestamp": self._ts, "FrameDuration": duration_us, "ExposureTime": duration_us // 2,
                "AnalogueGain": 1.0, "SensorTemperature": 40.0}

    def release(self) -> None:
        self._released = True


class Picamera2:
    """Subset of picamera2.Picamera2 with the real names and signatures."""

    def __init__(self, camera_num: int = 0, verbose_console: Optional[int] = None, tuning: Any = None,
                 allocator: Any = None) -> None:
        cameras = _fc.STATE.cameras if not _fc.STATE.unplugged() else []
        camera = cameras[camera_num]  # IndexError when the camera is absent, as the real library
        if camera_num in _fc.STATE.in_use:
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        _fc.STATE.in_use.add(camera_num)
        self.camera_num = camera_num
        self.camera_properties = {"Model": camera["Model"], "PixelArraySize": camera["PixelArraySize"]}
        self._sensor_size = tuple(camera["PixelArraySize"])
        self.camera_config: Optional[Dict[str, Any]] = None
        self.started = False
        self._frame_rate = 30.0
        self._t0 = 0
        self._next_index = 0
        self._closed = False

    @staticmethod
    def global_camera_info() -> List[Dict[str, Any]]:
        return [{"Model": c["Model"], "Location": 2, "Rotation": 0, "Id": c["Id"], "Num": i}
                for i, c in enumerate(_fc.STATE.cameras)]

    def _stream(self, spec: Optional[Dict[str, Any]], default_format: str) -> Optional[Dict[str, Any]]:
        if spec is None:
            return None
        spec = dict(spec)
        spec.setdefault("format", default_format)
        spec.setdefault("size", (640, 480))
        if spec["format"] not in _FORMATS:
            raise RuntimeError(f"Format {spec['format']} not supported by the fake")
        return spec

    def create_video_configuration(self, main: Optional[Dict[str, Any]] = None,
                                   lores: Optional[Dict[str, Any]] = None, raw: Optional[Dict[str, Any]] = None,
                                   transform: Any = None, colour_space: Any = None, buffer_count: int = 6,
                                   queue: bool = True, controls: Optional[Dict[str, Any]] = None,
                                   display: str = "main", encode: str = "main", sensor: Any = None,
                                   use_case: str = "video") -> Dict[str, Any]:
        return {"use_case": use_case, "buffer_count": buffer_count, "queue": queue,
                "main": self._stream(main if main is not None else {}, "XBGR8888"),
                "lores": self._stream(lores, "YUV420"), "raw": raw, "controls": dict(controls or {}),
                "display": display, "encode": encode, "sensor": sensor or {}}

    def create_preview_configuration(self, main: Optional[Dict[str, Any]] = None,
                                     lores: Optional[Dict[str, Any]] = None, **kwargs: Any) -> Dict[str, Any]:
        return self.create_video_configuration(main=main, lores=lores, use_case="preview", **kwargs)

    def configure(self, camera_config: Any = None) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self.camera_config = camera_config
        self._frame_rate = float((camera_config or {}).get("controls", {}).get("FrameRate", 30.0))

    def start(self, config: Any = None, show_preview: bool = False) -> None:
        if config is not None:
            self.configure(config)
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._t0 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self._next_index = 0

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.started = False
            _fc.STATE.in_use.discard(self.camera_num)

    def capture_request(self, flush: Any = None, wait: Any = None) -> CompletedRequest:
        if not self.started:
            raise RuntimeError("Camera is not running")
        if _fc.STATE.unplugged():
            raise RuntimeError("Camera frontend has timed out!")
        period = int(round(1e9 / self._frame_rate))
        index = self._next_index
        if _fc.STATE.drop_every and index and index % _fc.STATE.drop_every == 0:
            index += 1  # the pipeline dropped a frame: its timestamp never reaches the application
        ts = self._t0 + index * period
        delay = ts - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        if delay > 0:
            time.sleep(delay / 1e9)
        self._next_index = index + 1
        _fc.STATE.frames_served += 1
        return CompletedRequest(self, index, ts)

    def capture_array(self, name: str = "main", wait: Any = None) -> np.ndarray:
        request = self.capture_request()
        try:
            return request.make_array(name)
        finally:
            request.release()

    def capture_metadata(self, wait: Any = None) -> Dict[str, Any]:
        request = self.capture_request()
        try:
            return request.get_metadata()
        finally:
            request.release()

    def __enter__(self) -> "Picamera2":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
