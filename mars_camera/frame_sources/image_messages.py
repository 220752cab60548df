"""sensor_msgs/Image and CompressedImage -> Frame, for rclpy and rosbags messages alike (same field names)."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mars_camera.frame_sources.base import Frame, FrameSourceError
from mars_core.stamps import stamp_to_ns

_CHANNELS = {"bgr8": 3, "rgb8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4, "8UC3": 3, "8UC1": 1}


def stamp_ns_of(msg: Any) -> int:
    """header.stamp in nanoseconds."""
    return stamp_to_ns(msg.header.stamp)


def image_from_message(msg: Any) -> np.ndarray:
    """The BGR uint8 image of an Image or CompressedImage message (FrameSourceError naming the problem)."""
    data = msg.data
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(bytes(data), dtype=np.uint8)
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):  # CompressedImage
        image = cv2.imdecode(buf.astype(np.uint8, copy=False), cv2.IMREAD_COLOR)
        if image is None:
            raise FrameSourceError(f"cannot decode CompressedImage (format '{msg.format}')")
        return image
    encoding = str(msg.encoding)
    if encoding not in _CHANNELS:
        raise FrameSourceError(f"unsupported Image encoding '{encoding}' (supported: {sorted(_CHANNELS)})")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    c = _CHANNELS[encoding]
    if buf.size < h * step or step < w * c:
        raise FrameSourceError(f"Image data holds {buf.size} bytes, expected {h} rows x step {step} "
                               f"for {w}x{h} {encoding}")
    rows = buf[: h * step].reshape(h, step)[:, : w * c]
    image = rows.reshape(h, w, c) if c > 1 else rows.reshape(h, w)
    if encoding == "rgb8":
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if encoding == "rgba8":
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    if encoding == "bgra8":
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if c == 1:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


def frame_from_message(msg: Any, frame_number: int, source: str = "") -> Frame:
    """A Frame stamped with the message's header time (the capture time its publisher set)."""
    return Frame(image_from_message(msg), stamp_ns_of(msg), frame_number, source=source)
