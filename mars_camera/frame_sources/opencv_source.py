"""OpenCV VideoCapture source: V4L2/USB cameras (live) and video files (finite)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional

import cv2
import numpy as np

from mars_camera.frame_sources.base import Frame, FrameSource, FrameSourceError
from mars_camera.frame_sources.sensor_clock import SensorClockMapper

LOG = logging.getLogger(__name__)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class OpenCvFrameSource(FrameSource):
    """uri: a device index ('0'), a device path ('/dev/video0'), a video file, or any URL OpenCV opens.

    Live cameras are stamped with the V4L2 buffer time (CLOCK_MONOTONIC, via CAP_PROP_POS_MSEC) when
    OpenCV reports a plausible one, else with the time grab() returned. Video files are stamped
    start_ns + the frame's position in the file (start_ns defaults to the open time).
    """

    def __init__(self, uri: str, width: int = 0, height: int = 0, fps: float = 0.0,
                 start_ns: Optional[int] = None, name: str = "") -> None:
        self.uri = str(uri)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.name = name or f"opencv:{self.uri}"
        self._is_file = Path(self.uri).is_file()
        self._start_ns = start_ns
        self._cap: Any = None
        self._frame_number = -1
        self._clock = SensorClockMapper("monotonic")
        self.stamp_source = ""

    @property
    def is_live(self) -> bool:
        return not self._is_file

    def open(self) -> None:
        if self._is_file:
            cap = cv2.VideoCapture(self.uri)
        elif self.uri.isdigit():
            cap = cv2.VideoCapture(int(self.uri), cv2.CAP_V4L2)
        elif self.uri.startswith("/dev/video"):
            cap = cv2.VideoCapture(self.uri, cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(self.uri)
        if not cap.isOpened():
            cap.release()
            kind = "video file" if self._is_file else "camera"
            raise FrameSourceError(f"OpenCV cannot open {kind} '{self.uri}'")
        if not self._is_file:
            if self.width and self.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps:
                cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap
        if self._start_ns is None:
            self._start_ns = time.time_ns()

    def _live_stamp(self, grab_wall_ns: int) -> int:
        pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
        buffer_ns = int(pos_ms * 1e6)
        now_mono = time.monotonic_ns()
        # V4L2 buffers carry CLOCK_MONOTONIC capture times; accept them only if they are recent.
        if 0 < now_mono - buffer_ns < 1_000_000_000:
            self.stamp_source = "v4l2_buffer"
            return self._clock.to_ros_ns(buffer_ns)
        self.stamp_source = "grab_time"
        return grab_wall_ns

    def read(self) -> Optional[Frame]:
        if self._cap is None:
            raise FrameSourceError(f"{self.name} is not open")
        ok = self._cap.grab()
        grab_ns = time.time_ns()
        image = None
        if ok:
            ok, image = self._cap.retrieve()
        if not ok or image is None:
            if self._is_file:
                return None
            raise FrameSourceError(f"camera '{self.uri}' delivered no frame (unplugged or busy?)")
        self._frame_number += 1
        if self._is_file:
            assert self._start_ns is not None
            stamp = self._start_ns + int(float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) * 1e6)
            self.stamp_source = "file_position"
        else:
            stamp = self._live_stamp(grab_ns)
        return Frame(_as_bgr(image), int(stamp), self._frame_number, source=self.name)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def describe(self) -> Dict[str, Any]:
        return {"source": self.name, "uri": self.uri, "live": self.is_live, "stamp_source": self.stamp_source}
