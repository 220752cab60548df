"""Counting flowers in a recorded bag without ROS: read it with rosbags in log-time order and run the
CountingPipeline (the same cores as the live nodes). Bad bags are reported precisely and whatever could be
read is still counted."""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple, Union

from mars_core.config_schema import config_from_dict
from mars_ros.bags.bag_files import BagError, open_recorded_bag
from mars_ros.messages.detection_messages import DETECTION_ARRAY_TYPE, detection_frame_from_msg
from mars_core.rig import RigConfig, load_robot_config
from mars_core.stamps import stamp_to_ns
from mars_fusion.config import FusionConfig
from mars_ros.messages.fusion_inputs import gnss_fix_from_msg, heading_from_imu_msg
from mars_pipeline.counting_pipeline import CountingPipeline
from mars_pipeline.rig_discovery import discover_rig, rig_file_near
from mars_tracker.config import TrackerConfig

NAVSATFIX_TYPE = "sensor_msgs/msg/NavSatFix"
IMU_TYPE = "sensor_msgs/msg/Imu"
IMAGE_TYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")
IMAGE_BATCH_FRAMES = 4      # recorded images per inference call (ONNX Runtime; the live camera runs one by one)
READ_AHEAD_MESSAGES = 256   # messages read, deserialized and image-decoded ahead while the detector runs


def camera_of_topic(topic: str) -> str:
    """The camera namespace of a per-camera topic: /<camera>/... -> <camera>."""
    return topic.strip("/").split("/")[0]


class ImageDetection:
    """Runs the camera node's detector on recorded images: one detector for all cameras (the same settings),
    IMAGE_BATCH_FRAMES frames per inference call where the backend batches (ONNX Runtime on any provider)."""

    def __init__(self, cameras: List[str], camera_section: Optional[Dict[str, Any]], source: str) -> None:
        from mars_camera.detector_config import CameraDetectorConfig
        from mars_camera.frame_detector import FrameDetector

        config = config_from_dict(CameraDetectorConfig, camera_section, f"{source}:camera")
        self.detector = FrameDetector(config, camera_name=cameras[0], max_batch=IMAGE_BATCH_FRAMES)
        self.backend_reason = self.detector.backend_reason
        self._frame_numbers: Dict[str, Dict[int, int]] = {}
        self._counters: Dict[str, int] = {name: 0 for name in cameras}

    def use_frame_numbers(self, camera: str, by_stamp: Dict[int, int]) -> None:
        """Recorded detections' frame numbers by stamp, so image frames keep the camera's numbering."""
        self._frame_numbers[camera] = by_stamp

    def frame(self, camera: str, msg: Any) -> Any:
        """The decoded Frame of one image message (call in message order: it numbers the camera's frames)."""
        from mars_camera.frame_sources.image_messages import frame_from_message, stamp_ns_of

        stamp = stamp_ns_of(msg)
        number = self._frame_numbers.get(camera, {}).get(stamp, self._counters[camera])
        self._counters[camera] += 1
        return frame_from_message(msg, number, camera)

    def detect(self, frames: List[Any], cameras: List[str]) -> List[Any]:
        """The DetectionFrames of decoded frames of the given cameras (batched inference)."""
        return [r.frame for r in self.detector.detect_batch(frames, cameras)]


@dataclass
class CountReport:
    """What a bag gave: the pipeline (map, trackers) plus what was read, skipped and why."""

    bag: Path
    pipeline: CountingPipeline
    rig_source: str
    messages_read: int = 0
    seconds: float = 0.0
    undecodable: Counter = field(default_factory=Counter)   # topic -> messages that failed to decode
    image_cameras: List[str] = field(default_factory=list)  # cameras counted from images by the detector
    detector: str = ""                                       # which detector backend and why
    problems: List[str] = field(default_factory=list)       # human-readable, one line each
    truncated: bool = False                                  # storage cut short or damaged (problems say what)

    @property
    def flowers(self) -> int:
        """De-duplicated flowers in the map."""
        return self.pipeline.mapper.count()

    @property
    def partly_unreadable(self) -> bool:
        """Part of the bag could not be read or used (storage cut short or corrupt, messages that failed to
        decode or belong to no rig camera): the count may miss flowers, so it is not a clean success."""
        return self.truncated or bool(self.undecodable)


def pipeline_configs(robot_config: Optional[Union[str, Path]]) -> Dict[str, Any]:
    """TrackerConfig and FusionConfig from the robot configuration's `tracker` / `fusion` sections."""
    data = load_robot_config(robot_config) if robot_config else {}
    name = Path(robot_config).name if robot_config else "defaults"
    return {"tracker": config_from_dict(TrackerConfig, data.get("tracker"), f"{name}:tracker"),
            "fusion": config_from_dict(FusionConfig, data.get("fusion"), f"{name}:fusion")}


def count_bag(bag: Union[str, Path], robot_config: Optional[Union[str, Path]] = None,
              rig: Optional[RigConfig] = None, progress: bool = False, from_images: bool = False) -> CountReport:
    """Count the flowers of one bag: recorded detections per camera (or, for cameras without them or with
    from_images, the detector run on recorded images), NavSatFix, optional Imu heading."""
    bag = Path(bag)
    if robot_config is None:
        robot_config = rig_file_near(bag)  # a run's own robot configuration (mars-sim writes one)
    configs = pipeline_configs(robot_config)
    camera_section = load_robot_config(robot_config).get("camera") if robot_config else None
    rig_source = "given"
    if rig is None:
        rig, rig_source = discover_rig(bag, robot_config)
    pipeline = CountingPipeline(rig, configs["tracker"], configs["fusion"])
    report = CountReport(bag, pipeline, rig_source)
    reader = open_recorded_bag(bag)  # mcap chunk by chunk: damage costs only the chunks it hits
    started = time.perf_counter()
    try:
        topics = _plan_topics(reader, bag, rig, from_images)
        images = _set_up_image_detection(reader, topics, camera_section, str(robot_config or "defaults"), report)
        _report_missing_inputs(topics, rig, report)
        _read_and_count(reader, topics, images, pipeline, report, progress)
        _report_damaged_storage(reader, report)
    finally:
        reader.close()
    pipeline.finish()
    report.seconds = time.perf_counter() - started
    _report_unusable(report, topics.fixes)
    return report


@dataclass
class _BagTopics:
    """The connections count_bag reads, by kind, and which cameras the detector runs for."""

    detections: List[Any]
    images: List[Any]
    fixes: List[Any]
    headings: List[Any]
    detected: Set[str]          # cameras with recorded detections
    run_detector: List[str]     # cameras counted from their images


def _report_damaged_storage(reader: Any, report: CountReport) -> None:
    """What the mcap reader lost (a truncated file, bad chunks) and recovered, known once everything is read."""
    damage = reader.damage_report() if hasattr(reader, "damage_report") else []
    if damage:
        report.truncated = True
        report.problems.extend(damage)


def _plan_topics(reader: Any, bag: Path, rig: RigConfig, from_images: bool) -> _BagTopics:
    """Which connections to read: detections, rig camera images, fixes, headings; images where detections lack."""
    conns = reader.connections
    detection_conns = [c for c in conns if c.msgtype == DETECTION_ARRAY_TYPE]
    image_conns = [c for c in conns if c.msgtype in IMAGE_TYPES and camera_of_topic(c.topic) in rig.camera_names]
    with_images = {camera_of_topic(c.topic) for c in image_conns}
    image_cameras = [name for name in rig.camera_names if name in with_images]  # the rig's order
    detected = {camera_of_topic(c.topic) for c in detection_conns}
    run_detector = [cam for cam in image_cameras if from_images or cam not in detected]
    if from_images and not image_cameras:
        raise BagError(f"--from-images: bag {bag} has no image topics of the rig cameras "
                       f"{list(rig.camera_names)} (types {list(IMAGE_TYPES)})")
    return _BagTopics(detection_conns, image_conns, [c for c in conns if c.msgtype == NAVSATFIX_TYPE],
                      [c for c in conns if c.msgtype == IMU_TYPE], detected, run_detector)


def _set_up_image_detection(reader: Any, topics: _BagTopics, camera_section: Optional[Dict[str, Any]],
                            source: str, report: CountReport) -> Optional[ImageDetection]:
    """The detector for the cameras counted from images (None if none); narrows topics to what is read."""
    run_detector = topics.run_detector
    if not run_detector:
        topics.images = []
        return None
    images = ImageDetection(run_detector, camera_section, source)
    report.image_cameras = run_detector
    report.detector = images.backend_reason
    numbered = [c for c in topics.detections if camera_of_topic(c.topic) in run_detector]
    for cam in run_detector:  # keep the camera's frame numbering (MOT frames) where detections exist
        by_stamp = {}
        for conn, _, data in reader.messages(connections=[c for c in numbered if camera_of_topic(c.topic) == cam]):
            m = reader.deserialize(data, conn.msgtype)
            by_stamp[stamp_to_ns(m.header.stamp)] = int(m.frame_number)
        images.use_frame_numbers(cam, by_stamp)
    topics.detections = [c for c in topics.detections if camera_of_topic(c.topic) not in run_detector]
    topics.images = [c for c in topics.images if camera_of_topic(c.topic) in run_detector]
    return images


def _report_missing_inputs(topics: _BagTopics, rig: RigConfig, report: CountReport) -> None:
    """Problems known before reading: rig cameras without input, no GNSS, nothing to count."""
    missing = [name for name in rig.camera_names if name not in topics.detected and name not in topics.run_detector]
    if (topics.detections or topics.images) and missing:
        report.problems.append(f"no detections or images for rig camera(s) {missing}; counted the others")
    if not topics.fixes:
        report.problems.append(f"no {NAVSATFIX_TYPE} topic: flowers are counted per camera but cannot be "
                               f"geo-located (the map stays empty)")
    if not topics.detections and not topics.images:
        report.problems.append(f"no {DETECTION_ARRAY_TYPE} topics and no camera images in the bag: nothing "
                               f"to count")


def _read_and_count(reader: Any, topics: _BagTopics, images: Optional[ImageDetection], pipeline: CountingPipeline,
                    report: CountReport, progress: bool) -> None:
    """Feed the messages to the pipeline in log-time order; corrupt records and a broken end are reported.

    A reader thread reads, deserializes and decodes images ahead (OpenCV and ONNX Runtime release the GIL, so
    decoding overlaps with inference); images are detected IMAGE_BATCH_FRAMES at a time and every message
    reaches the pipeline in the order it was read, so the count is the same as one message at a time."""
    wanted = topics.detections + topics.images + topics.fixes + topics.headings
    total = sum(c.msgcount for c in wanted)
    bar = _progress(total, report.bag.name) if progress else None
    pending: List[Tuple[Any, Any]] = []      # (connection, message or image slot) waiting for their batch
    frames: List[Any] = []
    cameras: List[str] = []

    def flush() -> None:
        batch, names, waiting = list(frames), list(cameras), list(pending)
        frames.clear()
        cameras.clear()
        pending.clear()
        detected = images.detect(batch, names) if batch else []  # type: ignore[union-attr]
        for conn, item in waiting:
            if conn.msgtype in IMAGE_TYPES:
                pipeline.on_detections(detected[item])
            else:
                _count_message(conn, item, pipeline, report)

    try:
        for conn, msg in _read_ahead(reader, wanted, images):
            if msg is _UNDECODABLE:  # a corrupt record: count it, keep going
                report.undecodable[conn.topic] += 1
                continue
            report.messages_read += 1
            if bar is not None:
                bar.update(1)
            if conn.msgtype in IMAGE_TYPES:
                pending.append((conn, len(frames)))
                frames.append(msg)
                cameras.append(camera_of_topic(conn.topic))
                if len(frames) >= IMAGE_BATCH_FRAMES:
                    flush()
            elif frames:
                pending.append((conn, msg))
            else:
                _count_message(conn, msg, pipeline, report)
        flush()
    except Exception as exc:  # truncated or corrupt storage: keep what was read
        flush_error = None
        try:
            flush()
        except Exception as again:  # noqa: BLE001 - the first error is the one to report
            flush_error = again
        report.truncated = True
        report.problems.append(f"bag {report.bag} could not be read to the end ({type(exc).__name__}: {exc}); "
                               f"counted the {report.messages_read} messages read before")
        if flush_error is not None:
            report.problems.append(f"the last images before could not be detected ({flush_error})")
    finally:
        if bar is not None:
            bar.close()


_UNDECODABLE = object()   # a record that failed to deserialize
_END = object()


def _read_ahead(reader: Any, connections: List[Any], images: Optional[ImageDetection]) -> Iterator[Tuple[Any, Any]]:
    """(connection, message) in read order from a reader thread: messages deserialized, images decoded into
    Frames; a record that fails to deserialize comes as _UNDECODABLE; an error of the reader (or of decoding
    an image) is raised here after everything read before it."""
    ahead: "queue.Queue[Any]" = queue.Queue(maxsize=READ_AHEAD_MESSAGES)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for conn, _, data in reader.messages(connections=connections):
                try:
                    msg = reader.deserialize(data, conn.msgtype)
                except Exception:
                    if not put((conn, _UNDECODABLE)):
                        return
                    continue
                if conn.msgtype in IMAGE_TYPES:
                    msg = images.frame(camera_of_topic(conn.topic), msg)  # type: ignore[union-attr]
                if not put((conn, msg)):
                    return
            put((None, _END))
        except BaseException as exc:  # handed to the consumer, raised there in order
            put((None, exc))

    thread = threading.Thread(target=read, name="bag-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            conn, item = ahead.get()
            if item is _END:
                return
            if conn is None and isinstance(item, BaseException):
                raise item
            yield conn, item
    finally:
        stop.set()
        thread.join()


def _count_message(conn: Any, msg: Any, pipeline: CountingPipeline, report: CountReport) -> None:
    """One recorded detection array, fix or heading into the pipeline."""
    if conn.msgtype == DETECTION_ARRAY_TYPE:
        frame = detection_frame_from_msg(msg)
        if frame.camera_name in pipeline.trackers:
            pipeline.on_detections(frame)
        else:
            report.undecodable[f"{conn.topic} (camera not in rig)"] += 1
    elif conn.msgtype == NAVSATFIX_TYPE:
        pipeline.on_fix(gnss_fix_from_msg(msg))
    else:
        sample = heading_from_imu_msg(msg)
        if sample is not None:
            pipeline.on_heading(sample)


def _report_unusable(report: CountReport, fix_conns: List[Any]) -> None:
    """Problems known after reading: messages that could not be used, GNSS topics without a usable fix."""
    for topic, n in sorted(report.undecodable.items()):
        report.problems.append(f"{n} message(s) on {topic} could not be used")
    if fix_conns and report.pipeline.mapper.pose.fix_count == 0:
        report.problems.append("no usable GNSS fix in the whole bag (all without fix or invalid): "
                               "flowers counted per camera but not mapped")


def _progress(total: int, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="msg", smoothing=0.1, dynamic_ncols=True)


__all__ = ["CountReport", "count_bag", "pipeline_configs", "BagError"]
