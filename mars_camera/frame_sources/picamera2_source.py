"""Raspberry Pi camera via picamera2 (imported lazily): a main stream plus a low-resolution stream sized for
the model, capture time from the request's SensorTimestamp mapped to ROS time."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

from mars_camera.frame_sources.base import Frame, FrameSource, FrameSourceError
from mars_camera.frame_sources.sensor_clock import SensorClockMapper

LOG = logging.getLogger(__name__)


def lores_size_for(main_size: Tuple[int, int], model_input: Tuple[int, int]) -> Tuple[int, int]:
    """The largest even-sized stream with the main stream's aspect ratio that fits the model input.

    Keeping the aspect ratio means the detector letterboxes (pads) like training instead of squashing.
    """
    mw, mh = main_size
    iw, ih = model_input
    r = min(iw / mw, ih / mh)
    w = max(2, int(round(mw * r / 2)) * 2)
    h = max(2, int(round(mh * r / 2)) * 2)
    return min(w, iw - iw % 2), min(h, ih - ih % 2)


class Picamera2FrameSource(FrameSource):
    """Detection runs on the 'lores' stream (BGR memory order: picamera2's 'RGB888'); boxes are reported in
    main-stream pixels (Frame.reference_width/height)."""

    def __init__(self, camera_num: int = 0, main_size: Tuple[int, int] = (1536, 864),
                 model_input: Tuple[int, int] = (320, 320), frame_rate_hz: float = 30.0,
                 clock: Optional[SensorClockMapper] = None, keep_main: bool = False,
                 name: str = "") -> None:
        self.camera_num = int(camera_num)
        self.main_size = (int(main_size[0]), int(main_size[1]))
        self.lores_size = lores_size_for(self.main_size, model_input)
        self.frame_rate_hz = float(frame_rate_hz)
        # libcamera's SensorTimestamp is on CLOCK_BOOTTIME.
        self.clock = clock or SensorClockMapper("boottime")
        self.keep_main = keep_main
        self.name = name or f"picamera2:{camera_num}"
        self._cam: Any = None
        self._frame_number = -1
        self._last_ts: Optional[int] = None
        self._frame_duration_ns: Optional[int] = None
        self.last_main: Any = None

    @property
    def is_live(self) -> bool:
        return True

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise FrameSourceError("picamera2 is not installed (it needs libcamera from Raspberry Pi OS; use the "
                                   f"opencv source elsewhere): {exc}") from exc
        try:
            cam = Picamera2(self.camera_num)
            config = cam.create_video_configuration(
                main={"size": self.main_size, "format": "XRGB8888"},
                lores={"size": self.lores_size, "format": "RGB888"},
                controls={"FrameRate": self.frame_rate_hz})
            cam.configure(config)
            cam.start()
        except Exception as exc:  # IndexError (no camera), RuntimeError (busy/failed pipeline)
            raise FrameSourceError(f"cannot open camera {self.camera_num} with picamera2: "
                                   f"{type(exc).__name__}: {exc}") from exc
        self._cam = cam
        self.clock.update()
        LOG.info("picamera2 camera %d: main %s, lores %s, %.1f fps", self.camera_num, self.main_size,
                 self.lores_size, self.frame_rate_hz)

    def read(self) -> Optional[Frame]:
        if self._cam is None:
            raise FrameSourceError(f"{self.name} is not open")
        try:
            request = self._cam.capture_request()
        except Exception as exc:
            raise FrameSourceError(f"{self.name}: capture failed: {type(exc).__name__}: {exc}") from exc
        try:
            lores = request.make_array("lores")
            metadata = request.get_metadata()
            self.last_main = request.make_array("main") if self.keep_main else None
        finally:
            request.release()
        sensor_ts = int(metadata["SensorTimestamp"])
        duration_us = metadata.get("FrameDuration")
        if duration_us:
            self._frame_duration_ns = int(duration_us) * 1000
        # Count frames from sensor time so that frames the pipeline dropped leave gaps in frame_number.
        step = 1
        if self._last_ts is not None and self._frame_duration_ns:
            step = max(1, int(round((sensor_ts - self._last_ts) / self._frame_duration_ns)))
        self._frame_number += step
        self._last_ts = sensor_ts
        image = lores[:, :, :3] if lores.ndim == 3 and lores.shape[2] == 4 else lores
        return Frame(image=image, stamp_ns=self.clock.to_ros_ns(sensor_ts), frame_number=self._frame_number,
                     sensor_timestamp_ns=sensor_ts, source=self.name,
                     reference_width=self.main_size[0], reference_height=self.main_size[1])

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()

    def describe(self) -> Dict[str, Any]:
        info: Dict[str, Any] = {"source": self.name, "main_size": list(self.main_size),
                                "lores_size": list(self.lores_size), "frame_rate_hz": self.frame_rate_hz}
        info.update({f"clock_{k}": v for k, v in self.clock.describe().items()})
        return info
