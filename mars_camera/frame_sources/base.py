"""One interface for every frame source: a Frame is a BGR uint8 image stamped with its capture time."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

import numpy as np


class FrameSourceError(RuntimeError):
    """The source cannot be opened or stopped delivering (the reopening wrapper retries with back-off)."""


@dataclass(frozen=True)
class Frame:
    """One captured image.

    image: (H, W, 3) uint8 in BGR byte order (OpenCV's; picamera2 'RGB888' has the same memory order).
    stamp_ns: capture time on the ROS/system clock (ns since the Unix epoch), never the read time when the
    source knows better. sensor_timestamp_ns: the source's own clock (e.g. libcamera SensorTimestamp on
    CLOCK_BOOTTIME), kept for diagnostics. frame_number: consecutive per source; gaps are dropped frames.
    When reference_width/height are set, `image` is a uniformly scaled copy of that reference image (same
    aspect ratio) and detections are reported in reference pixels.
    """

    image: np.ndarray
    stamp_ns: int
    frame_number: int
    sensor_timestamp_ns: Optional[int] = None
    source: str = ""
    reference_width: int = 0    # size of the image the boxes must refer to (0 = this image), e.g. the
    reference_height: int = 0   # picamera2 main stream when `image` is its low-resolution twin

    @property
    def boxes_width(self) -> int:
        """Width of the image detections are reported in."""
        return self.reference_width or self.width

    @property
    def boxes_height(self) -> int:
        """Height of the image detections are reported in."""
        return self.reference_height or self.height

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])


class FrameSource(abc.ABC):
    """open() -> read() until None (end of a finite source) -> close(). read() raises FrameSourceError
    when a live device fails; ReopeningFrameSource turns that into reopen-with-back-off."""

    name: str = "source"

    @abc.abstractmethod
    def open(self) -> None:
        """Open the device/file (FrameSourceError with the reason when impossible)."""

    @abc.abstractmethod
    def read(self) -> Optional[Frame]:
        """The next frame, or None at the end of a finite source."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device/file (idempotent)."""

    @property
    def is_live(self) -> bool:
        """True for cameras (reopen on failure), False for files/folders/bags (end = stop)."""
        return False

    def describe(self) -> Dict[str, Any]:
        """Facts for logs and diagnostics."""
        return {"source": self.name}

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame
