"""rosbag2 files of our messages without ROS (rosbags): writing in mcap or sqlite3, reading detections.

Bags are written with metadata version 8 so that ROS 2 Humble can read them too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Iterable, Iterator, Optional, Tuple, Union

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from mars_core.detections import DetectionFrame
from mars_core.feature_codec import FeatureEncoding
from mars_ros.messages.detection_messages import (DETECTION_ARRAY_TYPE, detection_frame_from_msg,
                                                       detection_msg_rosbags)
from mars_ros.bags.mcap_salvage import McapDamage, open_mcap
from mars_ros.bags.typestore import mars_typestore

STORAGE_CHOICES = ("mcap", "sqlite3")
LATCHED_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  QosTime(0, 0), QosTime(0, 0), QosLiveliness.AUTOMATIC, QosTime(0, 0), False)
HUMBLE_READABLE_VERSION: Final = 8


class BagError(RuntimeError):
    """A bag cannot be read or written; the message says which bag and what is wrong."""


def detections_topic(camera_name: str) -> str:
    """The detections topic of a camera: /<camera>/detections."""
    return f"/{camera_name}/detections"


class BagWriter:
    """Writes messages (typed rosbags objects or CDR bytes) into a new rosbag2 folder."""

    def __init__(self, path: Union[str, Path], storage: str = "mcap") -> None:
        if storage not in STORAGE_CHOICES:
            raise BagError(f"unknown bag storage '{storage}'; choose one of {list(STORAGE_CHOICES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag output {self.path} already exists; refusing to overwrite it")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.typestore = mars_typestore()
        writer = Writer(self.path, version=HUMBLE_READABLE_VERSION, storage_plugin=plugin)
        writer.open()
        self._writer: Optional[Writer] = writer  # None once closed
        self._connections: dict = {}
        self.messages_written = 0

    def _connection(self, topic: str, msgtype: str) -> Any:
        conn = self._connections.get(topic)
        if conn is None:
            # /tf_static is latched (transient local) so that `ros2 bag play` re-latches it for late subscribers.
            qos = (LATCHED_QOS,) if topic == "/tf_static" else ()
            assert self._writer is not None, "write after close"
            conn = self._writer.add_connection(topic, msgtype, typestore=self.typestore, offered_qos_profiles=qos)
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"topic {topic} already has type {conn.msgtype}, cannot also write {msgtype}")
        return conn

    def write(self, topic: str, msgtype: str, stamp_ns: int, message: Any) -> None:
        """Write a rosbags message object, logged at stamp_ns."""
        self.write_cdr(topic, msgtype, stamp_ns, self.typestore.serialize_cdr(message, msgtype))

    def write_cdr(self, topic: str, msgtype: str, stamp_ns: int, data: Union[bytes, memoryview]) -> None:
        """Write an already CDR-serialized message (from rclpy.serialization or a bag), logged at stamp_ns."""
        connection = self._connection(topic, msgtype)
        assert self._writer is not None, "write after close"
        self._writer.write(connection, int(stamp_ns), bytes(data))
        self.messages_written += 1

    def write_detection_frame(self, frame: DetectionFrame,
                              encoding: FeatureEncoding = FeatureEncoding.FLOAT32) -> None:
        """Write a DetectionFrame on /<camera>/detections, logged at its capture stamp."""
        msg = detection_msg_rosbags(frame, self.typestore, encoding)
        self.write(detections_topic(frame.camera_name), DETECTION_ARRAY_TYPE, frame.stamp_ns, msg)

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml); safe to call twice."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_metadata(path: Path) -> None:
    """A rosbag2 folder's metadata.yaml must be the mapping rosbag2 writes (BagError naming the file: the
    reader's own message for e.g. a text file is "string indices must be integers")."""
    import yaml

    metadata = path / "metadata.yaml"
    if not metadata.is_file():
        return
    try:
        data = yaml.safe_load(metadata.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BagError(f"bag {path}: cannot read {metadata} as YAML: {exc}") from None
    info = data.get("rosbag2_bagfile_information") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        found = f"a mapping with keys {sorted(str(k) for k in data)}" if isinstance(data, dict) else \
            f"a {type(data).__name__} ({str(data)[:40]!r})"
        raise BagError(f"bag {path}: {metadata} is not rosbag2 metadata: it must be a mapping with the key "
                       f"rosbag2_bagfile_information, found {found}")


def open_bag_reader(path: Union[str, Path]) -> AnyReader:
    """An opened AnyReader over a rosbag2 folder with our types known (BagError when unreadable)."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    _check_metadata(path)
    reader = AnyReader([path], default_typestore=mars_typestore())
    try:
        reader.open()
    except Exception as exc:  # rosbags raises several reader error types; all mean "cannot open"
        raise BagError(f"cannot open bag {path}: {exc}") from None
    return reader


def open_recorded_bag(path: Union[str, Path]) -> Any:
    """A reader over a recorded bag (AnyReader's connections/messages/deserialize/close): mcap chunk by chunk,
    so a truncated file or a bad chunk costs only what it hit (its damage_report() says what), sqlite3 with
    rosbags; BagError naming the bag when nothing can be read."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = open_mcap(path)
    except (McapDamage, OSError) as exc:
        raise BagError(f"cannot open bag {path}: {exc}") from None
    if reader is None:
        return open_bag_reader(path)
    if not reader.connections:
        reader.close()
        raise BagError(f"cannot open bag {path}: no readable mcap channel in {[str(f) for f in reader.files]}")
    return reader


def read_detection_frames(path: Union[str, Path], topics: Optional[Iterable[str]] = None
                          ) -> Iterator[Tuple[str, DetectionFrame]]:
    """(topic, DetectionFrame) of every FlowerDetectionArray in the bag, in log-time order."""
    reader = open_bag_reader(path)
    try:
        wanted = set(topics) if topics is not None else None
        connections = [c for c in reader.connections if c.msgtype == DETECTION_ARRAY_TYPE
                       and (wanted is None or c.topic in wanted)]
        if wanted is not None:
            missing = wanted - {c.topic for c in connections}
            if missing:
                raise BagError(f"bag {path} has no detections on {sorted(missing)}; it has "
                               f"{sorted(c.topic for c in reader.connections if c.msgtype == DETECTION_ARRAY_TYPE)}")
        for conn, _, data in reader.messages(connections=connections):
            yield conn.topic, detection_frame_from_msg(reader.deserialize(data, conn.msgtype))
    finally:
        reader.close()
