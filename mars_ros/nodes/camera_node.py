"""camera node (one per camera module): frames -> YOLO on the Hailo (or ONNX Runtime) -> boxes + features.

Publishes, in the camera's namespace: `detections` (FlowerDetectionArray, reliable; stamp = capture time,
frame_id = <camera>_optical_frame), `camera_info` (from the robot configuration's intrinsics, same stamp),
an optional rate-limited annotated `debug_image/compressed`, and diagnostics (fps, per-stage latency,
dropped frames, backend, model file, source kind and state, lifecycle state). A managed (lifecycle) node: the
model and device are opened at configure and released at cleanup/shutdown (see CameraNode); a camera that
disappears is reopened with back-off while the node keeps running.

Runtime parameter changes (`ros2 param set`): debug_image_hz, exit_when_done and wait_for_subscribers are applied
from the next frame; the `detector.*`, `source.*` and QoS parameters take effect at configure, so they are
accepted while the node is unconfigured and refused with the reason otherwise; read-only ones never change.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import rclpy.logging
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.task import Future

from mars_core.config_schema import config_field
from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors.base import DetectorError
from mars_core.feature_codec import FeatureEncoding
from mars_camera.frame_detector import DetectionResult, FrameDetector
from mars_camera.frame_sources import FrameSourceConfig, create_frame_source, frame_from_message
from mars_ros.messages.detection_messages import detection_msg_rclpy
from mars_core.package_files import default_robot_config
from mars_core.rig import ConfigError, RigCamera, load_rig, load_robot_config
from mars_ros.node_pattern.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher
from mars_ros.node_pattern.node_main import run_node
from mars_ros.node_pattern.parameters import RuntimeParameters, change_text
from mars_ros.node_pattern.qos import QOS_CHOICES, describe_qos, qos_profile
from mars_ros.node_pattern.timers import steady_timer
from mars_core.stream_statistics import StreamStatistics

ENCODINGS = {"none": FeatureEncoding.NONE, "float32": FeatureEncoding.FLOAT32, "uint8": FeatureEncoding.UINT8}


@dataclass(frozen=True)
class CameraNodeConfig:
    """Parameters of the camera node (detector: `detector.*`, frame source: `source.*`)."""

    camera_name: str = config_field("", "Camera name from the robot configuration (empty = the node's "
                                        "namespace)", read_only=True)
    robot_config: str = config_field("", "Robot configuration YAML (intrinsics for CameraInfo, `camera:` "
                                         "detector defaults); empty = the shipped MARS rig", read_only=True)
    detections_topic: str = config_field("detections", "FlowerDetectionArray output (relative: in the "
                                                       "camera's namespace)", read_only=True)
    camera_info_topic: str = config_field("camera_info", "CameraInfo output", read_only=True)
    image_topic: str = config_field("image/compressed", "Input topic when source.kind is 'topic'", read_only=True)
    debug_image_hz: float = config_field(0.0, "Annotated debug image rate (0 = off)", minimum=0.0, maximum=30.0)
    pipeline_depth: int = config_field(2, "Frames in flight (capture, inference, post-processing overlap)",
                                       minimum=1, maximum=8, read_only=True)
    exit_when_done: bool = config_field(True, "Shut down when a finite source (folder, bag, video) ends")
    wait_for_subscribers: int = config_field(0, "Hold capture until the detections topic has this many "
                                                "subscriptions (offline sources: nothing is published unheard)",
                                             minimum=0)
    qos: str = config_field("reliable", "QoS of the detections", choices=QOS_CHOICES)
    qos_depth: int = config_field(30, "History depth of the detections publisher", minimum=1)
    autostart: bool = config_field(True, "Configure and activate at start-up (false: wait for a lifecycle "
                                         "manager's transitions)", read_only=True)


def camera_info_msg(camera: RigCamera, stamp: Any) -> Any:
    """sensor_msgs/CameraInfo (plumb_bob) of a rig camera."""
    from sensor_msgs.msg import CameraInfo

    i = camera.model.intrinsics
    msg = CameraInfo(width=i.width, height=i.height, distortion_model="plumb_bob",
                     d=list(i.distortion), k=[i.fx, 0.0, i.cx, 0.0, i.fy, i.cy, 0.0, 0.0, 1.0],
                     r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     p=[i.fx, 0.0, i.cx, 0.0, 0.0, i.fy, i.cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    msg.header.stamp = stamp
    msg.header.frame_id = camera.model.optical_frame
    return msg


def annotated_jpeg(image: np.ndarray, result: DetectionResult, quality: int = 70) -> bytes:
    """The frame with its boxes drawn, as JPEG bytes (debug image)."""
    import cv2

    canvas = image.copy()
    d = result.frame.detections
    sx = image.shape[1] / max(1, result.frame.image_width)
    sy = image.shape[0] / max(1, result.frame.image_height)
    for (x0, y0, x1, y1), score in zip(d.xyxy, d.scores):
        cv2.rectangle(canvas, (int(x0 * sx), int(y0 * sy)), (int(x1 * sx), int(y1 * sy)), (0, 0, 255), 2)
        cv2.putText(canvas, f"{score:.2f}", (int(x0 * sx), max(10, int(y0 * sy) - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 255), 1)
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes() if ok else b""


class CameraNode(LifecycleNode):
    """Runs the FrameDetector on the configured source and publishes its detections (a managed node).

    configure: open the frame source and load the model (a failure is a failed transition, reported in the log and
    diagnostics, the node stays unconfigured); activate: capture, detect and publish; deactivate: stop capture and
    inference, the device and the model stay open; cleanup / shutdown: release them. With autostart (default)
    the node configures and activates itself at start-up, as a plain node would.
    """

    def __init__(self) -> None:
        super().__init__("camera")
        self.parameters = RuntimeParameters(self)
        refusal = self._refusal_when_configured
        self.config = self.parameters.declare(
            CameraNodeConfig, applied=("debug_image_hz", "exit_when_done", "wait_for_subscribers"), refusal=refusal)
        robot_config = self.config.robot_config or str(default_robot_config())
        robot = load_robot_config(robot_config)
        self.camera = self.config.camera_name or self.get_namespace().strip("/").split("/")[-1]
        if not self.camera:
            raise ConfigError("camera_name is empty and the node has no namespace: set one of them")
        self.detector_config = self.parameters.declare(CameraDetectorConfig, prefix="detector.",
                                                       defaults=robot.get("camera"),
                                                       defaults_source=f"{robot_config}:camera", refusal=refusal)
        self.source_config = self.parameters.declare(FrameSourceConfig, prefix="source.", refusal=refusal)
        self.parameters.check_no_unknown_overrides()
        self.finished: Future = Future()
        self._rig_camera: Optional[RigCamera] = None
        try:
            self._rig_camera = load_rig(robot_config).camera(self.camera)
        except ConfigError as exc:
            self.get_logger().warning(f"no CameraInfo will be published: {exc}")
        self.detector: Optional[FrameDetector] = None
        self._source: Optional[Any] = None
        self._configure_error: Optional[Exception] = None
        self._device_publishers: List[Any] = []
        self._image_subscription: Optional[Any] = None
        self._stats = StreamStatistics()
        self._stage_ms: Dict[str, float] = {}
        self._errors = 0
        self._last_error = ""
        self._dropped = 0
        self._last_frame_number: Optional[int] = None
        self._last_debug = 0.0
        self._size_warned = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._last_image: Optional[np.ndarray] = None
        self._topic_frames = 0
        self._diagnostics = DiagnosticsPublisher(self, hardware_id=self.camera)
        steady_timer(self, 1.0, self._publish_diagnostics)

    # ------------------------------------------------------------------ lifecycle
    @property
    def lifecycle_state(self) -> str:
        """unconfigured, inactive, active, finalized (or a transition state)."""
        return str(self._state_machine.current_state[1])

    def _refusal_when_configured(self, name: str) -> Optional[str]:
        """Source, detector and QoS settings take effect at configure: accepted only while unconfigured."""
        if self.lifecycle_state == "unconfigured":
            return None
        return (f"used when the node is configured (state now {self.lifecycle_state}): deactivate and clean up "
                f"the node (lifecycle), set it, then configure again; or restart the node")

    def start(self) -> None:
        """autostart: configure and activate; raises the configure error (ConfigError: exit code 2)."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            error = self._configure_error
            if isinstance(error, ConfigError):
                raise error
            raise RuntimeError(f"configure failed: {self._last_error}")
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError(f"activate failed: {self._last_error}")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Open the frame source and load the model (applying parameters set while unconfigured)."""
        changed = []
        for prefix in ("", "detector.", "source."):
            change = self.parameters.take(prefix)
            if change is None:
                continue
            changed.append(change_text(change[1]))
            if prefix == "":
                self.config = change[0]
            elif prefix == "detector.":
                self.detector_config = change[0]
            else:
                self.source_config = change[0]
        if changed:
            self.get_logger().info(f"parameters changed: {', '.join(changed)}")
        from mars_counting.msg import FlowerDetectionArray
        from sensor_msgs.msg import CameraInfo, CompressedImage

        self._configure_error = None
        try:
            self.detector = FrameDetector(self.detector_config, camera_name=self.camera)
            self._source = create_frame_source(self.source_config, self.detector_config.input_size, self.camera)
            if self._source is not None:
                self._source.open()
        except Exception as exc:  # a missing model or device: a failed transition, the node stays up
            self._configure_error = exc
            self._errors += 1
            self._last_error = f"configure failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(self._last_error)
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._encoding = ENCODINGS[self.detector_config.feature_encoding]
        qos = qos_profile(self.config.qos, self.config.qos_depth)
        self._detections_pub = self.create_publisher(FlowerDetectionArray, self.config.detections_topic, qos)
        self._info_pub = self.create_publisher(CameraInfo, self.config.camera_info_topic, qos_profile("reliable"))
        self._debug_pub = self.create_publisher(CompressedImage, "debug_image/compressed", qos_profile("sensor_data"))
        self._device_publishers = [self._detections_pub, self._info_pub, self._debug_pub]
        self._last_error = ""
        self.get_logger().info(f"camera '{self.camera}': {self.detector.backend_reason}; model "
                               f"{self.detector.model_file} (id {self.detector.model_id}); appearance "
                               f"{self.detector.appearance}; source {self.source_config.kind}; detections on "
                               f"{self._detections_pub.topic_name}, QoS {describe_qos(qos)}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start capturing and publishing."""
        self._stop.clear()
        resume = getattr(self._source, "resume", None)
        if callable(resume):
            resume()
        if self._source is None:  # kind 'topic': detect in the subscription callback
            from sensor_msgs.msg import CompressedImage

            self._image_subscription = self.create_subscription(
                CompressedImage if self.config.image_topic.endswith("compressed") else _image_type(),
                self.config.image_topic, self._on_image, qos_profile("sensor_data"))
        else:
            self._thread = threading.Thread(target=self._capture_loop, name=f"{self.camera}-capture", daemon=True)
            self._thread.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop capture and inference; the source's device and the model stay open."""
        self._stop_capture()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the source, the model and the device."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop and release everything."""
        self._stop_capture()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: release, back to unconfigured."""
        self._stop_capture()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_capture(self) -> None:
        self._stop.set()
        stop = getattr(self._source, "stop", None)
        if callable(stop):
            stop()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._image_subscription is not None:
            self.destroy_subscription(self._image_subscription)
            self._image_subscription = None

    def _release(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
        if self.detector is not None:
            self.detector.backend.close()
            self.detector = None
        for publisher in self._device_publishers:
            self.destroy_publisher(publisher)
        self._device_publishers = []

    # ------------------------------------------------------------------ frames in
    def _capture_loop(self) -> None:
        while (self._detections_pub.get_subscription_count() < self.config.wait_for_subscribers
               and not self._stop.is_set()):
            time.sleep(0.02)
            self._take_live_changes()
        detector = self.detector
        try:
            for result in detector.run(self._frames(), self.config.pipeline_depth, self._on_error):
                self._publish(result, self._last_image)
        except Exception as exc:  # the node reports and stays up; diagnostics show the error
            if self._stop.is_set() or not self.context.ok():
                return  # shutting down: a publish into the closed context is expected, not an error
            self._errors += 1
            self._last_error = f"capture stopped: {type(exc).__name__}: {exc}"
            self.get_logger().error(self._last_error)
            return
        if not self._stop.is_set() and self.config.exit_when_done:
            self.get_logger().info(f"source ended after {self._stats.total} frames")
            self._publish_diagnostics()  # the final figures, even for a source shorter than the timer period
            self.finished.set_result(self._stats.total)

    def _take_live_changes(self) -> None:
        """debug_image_hz, exit_when_done, wait_for_subscribers set at runtime: used from the next frame on."""
        change = self.parameters.take()
        if change is not None:
            self.config = change[0]
            self.get_logger().info(f"parameters changed: {change_text(change[1])}")

    def _frames(self):
        while not self._stop.is_set():
            self._take_live_changes()  # between frames
            frame = self._source.read()
            if frame is None:
                return
            self._last_image = frame.image
            yield frame

    def _on_image(self, msg: Any) -> None:
        self._take_live_changes()
        try:
            frame = frame_from_message(msg, self._topic_frames, self.camera)
            self._topic_frames += 1
            self._publish(self.detector.detect(frame), frame.image)
        except (DetectorError, ValueError, RuntimeError) as exc:
            self._on_error(None, exc)

    def _on_error(self, frame: Any, exc: Exception) -> None:
        self._errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        self.get_logger().error(f"frame skipped: {self._last_error}", throttle_duration_sec=5.0)

    # ------------------------------------------------------------------ messages out
    def _publish(self, result: DetectionResult, image: Optional[np.ndarray]) -> None:
        frame = result.frame
        if self._last_frame_number is not None and frame.frame_number > self._last_frame_number + 1:
            self._dropped += frame.frame_number - self._last_frame_number - 1
        self._last_frame_number = frame.frame_number
        msg = detection_msg_rclpy(frame, self._encoding)
        self._detections_pub.publish(msg)
        if self._rig_camera is not None:
            intr = self._rig_camera.model.intrinsics
            if (intr.width, intr.height) != (frame.image_width, frame.image_height) and not self._size_warned:
                self._size_warned = True
                self.get_logger().warning(
                    f"frames are {frame.image_width}x{frame.image_height} but the robot configuration's "
                    f"intrinsics of {self.camera} are for {intr.width}x{intr.height}: geolocation will be wrong")
            self._info_pub.publish(camera_info_msg(self._rig_camera, msg.header.stamp))
        now = time.monotonic()
        hz = self.config.debug_image_hz
        if hz > 0 and image is not None and now - self._last_debug >= 1.0 / hz:
            from sensor_msgs.msg import CompressedImage

            self._last_debug = now
            debug = CompressedImage(format="jpeg")
            debug.header = msg.header
            debug.data = annotated_jpeg(image, result)
            self._debug_pub.publish(debug)
        self._stage_ms = result.timings.as_ms()
        latency = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e9
        self._stats.record(time.monotonic_ns(), latency)

    def _publish_diagnostics(self) -> None:
        now = time.monotonic_ns()
        state = self.lifecycle_state
        detector = self.detector
        # What the node uses, as it uses it: the backend chosen, the model file loaded, the source, the topic.
        values: Dict[str, object] = {"lifecycle_state": state, "fps": self._stats.rate_hz(now),
                                     "frames": self._stats.total, "dropped_frames": self._dropped,
                                     "errors": self._errors, "source_kind": self.source_config.kind,
                                     "use_sim_time": self.get_clock().ros_time_is_active,
                                     **self._stage_ms, **self._stats.latency_percentiles()}
        if detector is not None:
            described = detector.backend.describe()
            values.update({"backend": detector.backend.name, "appearance": detector.appearance,
                           "model_file": detector.model_file,
                           "model_id": detector.model_id,
                           "detections_topic": self._detections_pub.topic_name})
            if "temperature_c" in described:
                values["hailo_temperature_c"] = described["temperature_c"]
        level, message = OK, "detecting" if state == "active" else state
        status = getattr(self._source, "status", None)
        if callable(status):
            source_status = status().as_dict()
            values.update({f"source_{k}": v for k, v in source_status.items()})
            if source_status.get("state") == "reopening":
                level, message = WARN, f"camera lost, reopening with back-off: {source_status.get('last_error')}"
        if self._last_error:
            level = ERROR if ("capture stopped" in self._last_error or "configure failed" in self._last_error) \
                else WARN
            message = self._last_error
        self._diagnostics.publish({self.camera: (level, message, values)})

    def close(self) -> None:
        """Stop capturing and release the source, the model and the device."""
        self._stop_capture()
        self._release()
        rclpy.logging.get_logger("mars.camera").info(f"{self.camera}: released after {self._stats.total} frames")


def _image_type() -> Any:
    from sensor_msgs.msg import Image

    return Image


def make_camera_node() -> CameraNode:
    """The camera node, configured and activated when its autostart parameter is true (the default)."""
    node = CameraNode()
    if node.config.autostart:
        try:
            node.start()
        except Exception:
            node.close()
            node.destroy_node()
            raise
    return node


def main(args: Optional[List[str]] = None) -> int:
    """Entry point: `ros2 run mars_counting camera_node --ros-args -r __ns:=/cam_left -p source.kind:=picamera2`."""
    return run_node(make_camera_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
