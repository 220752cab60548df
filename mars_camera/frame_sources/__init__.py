"""Frame sources with one interface: picamera2, OpenCV (V4L2/USB/video), image folders, image bags."""
from __future__ import annotations

from mars_camera.frame_sources.base import Frame, FrameSource, FrameSourceError
from mars_camera.frame_sources.bag_source import BagImageFrameSource
from mars_camera.frame_sources.image_folder_source import ImageFolderFrameSource
from mars_camera.frame_sources.image_messages import frame_from_message, image_from_message
from mars_camera.frame_sources.opencv_source import OpenCvFrameSource
from mars_camera.frame_sources.picamera2_source import Picamera2FrameSource, lores_size_for
from mars_camera.frame_sources.reopening import ReopeningFrameSource, SourceStatus
from mars_camera.frame_sources.sensor_clock import SensorClockMapper
from mars_camera.frame_sources.source_config import FrameSourceConfig, create_frame_source

__all__ = ["Frame", "FrameSource", "FrameSourceError", "BagImageFrameSource", "ImageFolderFrameSource",
           "frame_from_message", "image_from_message", "OpenCvFrameSource", "Picamera2FrameSource",
           "lores_size_for", "ReopeningFrameSource", "SourceStatus", "SensorClockMapper",
           "FrameSourceConfig", "create_frame_source"]
