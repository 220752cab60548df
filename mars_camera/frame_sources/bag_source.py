"""Images from a ROS 2 bag (sensor_msgs/Image or CompressedImage topic), read directly with rosbags (no ROS)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from mars_camera.frame_sources.base import Frame, FrameSource, FrameSourceError
from mars_camera.frame_sources.image_messages import frame_from_message

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


class BagImageFrameSource(FrameSource):
    """Frames in bag order, stamped with each message's header stamp (deterministic offline counting)."""

    def __init__(self, bag_path: str, topic: str, name: str = "") -> None:
        self.bag_path = Path(bag_path)
        self.topic = topic
        self.name = name or f"bag:{self.bag_path}:{topic}"
        self._reader: Any = None
        self._messages: Optional[Iterator[Any]] = None
        self._frame_number = -1

    def open(self) -> None:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore
        if not self.bag_path.exists():
            raise FrameSourceError(f"bag '{self.bag_path}' does not exist")
        try:
            reader = AnyReader([self.bag_path], default_typestore=get_typestore(Stores.ROS2_JAZZY))
            reader.open()
        except Exception as exc:
            raise FrameSourceError(f"cannot open bag '{self.bag_path}': {exc}") from exc
        connections = [c for c in reader.connections if c.topic == self.topic]
        if not connections:
            topics = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})
            reader.close()
            raise FrameSourceError(f"bag '{self.bag_path}' has no topic '{self.topic}'; topics: {topics}")
        bad = [c.msgtype for c in connections if c.msgtype not in IMAGE_TYPES]
        if bad:
            reader.close()
            raise FrameSourceError(f"topic '{self.topic}' in '{self.bag_path}' has type {bad[0]}, expected one of "
                                   f"{IMAGE_TYPES}")
        self._reader = reader
        self._messages = reader.messages(connections=connections)

    def read(self) -> Optional[Frame]:
        if self._reader is None or self._messages is None:
            raise FrameSourceError(f"{self.name} is not open")
        try:
            connection, _, raw = next(self._messages)
        except StopIteration:
            return None
        msg = self._reader.deserialize(raw, connection.msgtype)
        self._frame_number += 1
        try:
            return frame_from_message(msg, self._frame_number, self.name)
        except FrameSourceError as exc:
            raise FrameSourceError(f"{self.name}, message {self._frame_number}: {exc}") from exc

    def close(self) -> None:
        reader, self._reader = self._reader, None
        self._messages = None
        if reader is not None:
            reader.close()

    def describe(self) -> Dict[str, Any]:
        return {"source": self.name, "frames_read": self._frame_number + 1}
