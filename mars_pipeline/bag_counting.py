"""Counting flowers in a recorded bag without ROS: read it with rosbags in log-time order and run the
CountingPipeline (the same cores as the live nodes). Bad bags are reported precisely and whatever could be
read is still counted."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Union

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


def camera_of_topic(topic: str) -> str:
    """The camera namespace of a per-camera topic: /<camera>/... -> <camera>."""
    return topic.strip("/").split("/")[0]


class ImageDetection:
    """Runs the camera node's detector on recorded images (one shared backend, one FrameDetector per camera)."""

    def __init__(self, cameras: List[str], camera_section: Optional[Dict[str, Any]], source: str) -> None:
        from mars_camera.detector_config import CameraDetectorConfig
        from mars_camera.frame_detector import FrameDetector

        config = config_from_dict(CameraDetectorConfig, camera_section, f"{source}:camera")
        first = FrameDetector(config, camera_name=cameras[0])
        self.detectors = {cameras[0]: first}
        for name in cameras[1:]:
            self.detectors[name] = FrameDetector(config, backend=first.backend, camera_name=name)
        self.backend_reason = first.backend_reason
        self._frame_numbers: Dict[str, Dict[int, int]] = {}
        self._counters: Dict[str, int] = {name: 0 for name in cameras}

    def use_frame_numbers(self, camera: str, by_stamp: Dict[int, int]) -> None:
        """Recorded detections' frame numbers by stamp, so image frames keep the camera's numbering."""
        self._frame_numbers[camera] = by_stamp

    def detect(self, camera: str, msg: Any) -> Any:
        """The DetectionFrame of one image message."""
        from mars_camera.frame_sources.image_messages import frame_from_message, stamp_ns_of

        stamp = stamp_ns_of(msg)
        number = self._frame_numbers.get(camera, {}).get(stamp, self._counters[camera])
        self._counters[camera] += 1
        return self.detectors[camera].detect(frame_from_message(msg, number, camera)).frame


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
    """Feed the messages to the pipeline in log-time order; corrupt records and a broken end are reported."""
    wanted = topics.detections + topics.images + topics.fixes + topics.headings
    total = sum(c.msgcount for c in wanted)
    bar = _progress(total, report.bag.name) if progress else None
    try:
        for conn, _, data in reader.messages(connections=wanted):
            try:
                msg = reader.deserialize(data, conn.msgtype)
            except Exception:  # a corrupt record: count it, keep going
                report.undecodable[conn.topic] += 1
                continue
            report.messages_read += 1
            if bar is not None:
                bar.update(1)
            if conn.msgtype == DETECTION_ARRAY_TYPE:
                frame = detection_frame_from_msg(msg)
                if frame.camera_name in pipeline.trackers:
                    pipeline.on_detections(frame)
                else:
                    report.undecodable[f"{conn.topic} (camera not in rig)"] += 1
            elif conn.msgtype in IMAGE_TYPES:
                pipeline.on_detections(images.detect(camera_of_topic(conn.topic), msg))  # type: ignore[union-attr]
            elif conn.msgtype == NAVSATFIX_TYPE:
                pipeline.on_fix(gnss_fix_from_msg(msg))
            else:
                sample = heading_from_imu_msg(msg)
                if sample is not None:
                    pipeline.on_heading(sample)
    except Exception as exc:  # truncated or corrupt storage: keep what was read
        report.truncated = True
        report.problems.append(f"bag {report.bag} could not be read to the end ({type(exc).__name__}: {exc}); "
                               f"counted the {report.messages_read} messages read before")
    finally:
        if bar is not None:
            bar.close()


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
