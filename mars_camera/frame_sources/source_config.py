"""Configuration of a camera node's frame source and the factory that opens it (wrapped for reopening)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from mars_core.config_schema import ConfigError, config_field
from mars_camera.frame_sources.base import FrameSource
from mars_camera.frame_sources.reopening import ReopeningFrameSource
from mars_camera.frame_sources.sensor_clock import SensorClockMapper

SOURCE_KINDS = ("picamera2", "opencv", "folder", "bag", "topic")


@dataclass(frozen=True)
class FrameSourceConfig:
    """Where frames come from. 'topic' means the ROS node subscribes to an Image/CompressedImage topic itself
    (frame_from_message converts each message)."""

    kind: str = config_field("picamera2", "Frame source: picamera2, opencv (V4L2/USB camera or video file), "
                             "folder (images), bag (image topic of a rosbag2), topic (ROS image topic)",
                             choices=SOURCE_KINDS, read_only=True)
    uri: str = config_field("", "opencv: device index, /dev/videoN, video file or URL; folder: directory; "
                            "bag: bag path", read_only=True)
    topic: str = config_field("", "bag/topic: the sensor_msgs/Image or CompressedImage topic", read_only=True)
    camera_num: int = config_field(0, "picamera2 camera index", minimum=0, read_only=True)
    width: int = config_field(1536, "picamera2 main stream / requested camera width (boxes are reported in "
                              "this stream's pixels)", minimum=0, maximum=10000, read_only=True)
    height: int = config_field(864, "picamera2 main stream / requested camera height", minimum=0, maximum=10000,
                               read_only=True)
    frame_rate_hz: float = config_field(30.0, "Camera frame rate (folder: playback rate)", minimum=0.1,
                                        maximum=1000.0, read_only=True)
    sensor_clock: str = config_field("boottime", "Clock of picamera2 SensorTimestamp (libcamera: boottime)",
                                     choices=("boottime", "monotonic"), read_only=True)
    clock_remeasure_s: float = config_field(5.0, "Seconds between re-measurements of the sensor-clock to ROS "
                                            "time offset", minimum=0.1, maximum=3600.0)
    reopen_initial_s: float = config_field(0.5, "First wait before reopening a camera that failed",
                                           minimum=0.01, maximum=60.0)
    reopen_max_s: float = config_field(10.0, "Longest wait between reopen attempts (exponential back-off)",
                                       minimum=0.01, maximum=600.0)

    def __post_init__(self) -> None:
        if self.kind in ("opencv", "folder", "bag") and not self.uri:
            raise ConfigError(f"uri must be set for a '{self.kind}' frame source")
        if self.kind in ("bag", "topic") and not self.topic:
            raise ConfigError(f"topic must be set for a '{self.kind}' frame source")
        if self.reopen_max_s < self.reopen_initial_s:
            raise ConfigError(f"reopen_max_s ({self.reopen_max_s}) must be >= reopen_initial_s "
                              f"({self.reopen_initial_s})")


def create_frame_source(config: FrameSourceConfig, model_input: Tuple[int, int] = (320, 320),
                        name: str = "") -> Optional[FrameSource]:
    """The configured source (live cameras wrapped in ReopeningFrameSource); None for kind 'topic'."""
    inner: FrameSource
    if config.kind == "topic":
        return None
    if config.kind == "picamera2":
        from mars_camera.frame_sources.picamera2_source import Picamera2FrameSource
        clock = SensorClockMapper(config.sensor_clock, remeasure_period_s=config.clock_remeasure_s)
        inner = Picamera2FrameSource(config.camera_num, (config.width, config.height), model_input,
                                     config.frame_rate_hz, clock, name=name)
    elif config.kind == "opencv":
        from mars_camera.frame_sources.opencv_source import OpenCvFrameSource
        inner = OpenCvFrameSource(config.uri, config.width, config.height, config.frame_rate_hz, name=name)
    elif config.kind == "folder":
        from mars_camera.frame_sources.image_folder_source import ImageFolderFrameSource
        inner = ImageFolderFrameSource(config.uri, config.frame_rate_hz, name=name)
    else:
        from mars_camera.frame_sources.bag_source import BagImageFrameSource
        inner = BagImageFrameSource(config.uri, config.topic, name=name)
    if inner.is_live:
        return ReopeningFrameSource(inner, config.reopen_initial_s, config.reopen_max_s)
    return inner
