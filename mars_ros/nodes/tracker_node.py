"""tracker node (Jetson): per-camera tracking of the cameras' detections.

Subscribes to /<camera>/detections of every configured camera, runs one CameraTracker per camera (the same
core as the offline counter) and publishes /<camera>/tracks (FlowerTrackArray), the per-camera counts
(FlowerCount), track markers for rviz and diagnostics. Time going backwards on a camera (bag loop) resets
that camera's tracks with a warning (the core's rule); features of an unexpected model are rejected.

Runtime parameter changes (`ros2 param set`): every `tracker.*` parameter and marker_plane_height,
prior_plane_height and feature_encoding are applied before the next detections message (validated as a whole
new config; tracks and counts are kept); qos and qos_depth are start-up only and the read-only ones (topics,
cameras, robot_config) cannot change: both are refused with the reason. Each parameter's description says which.

Not a lifecycle node: it owns no device, and its state (live tracks, counts) is what a deactivate/cleanup
would throw away; starting and stopping it is starting and stopping the process.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from rclpy.node import Node

from mars_core import jit
from mars_core.config_schema import config_field
from mars_core.feature_codec import FeatureEncoding, FeatureMismatchError
from mars_ros.messages.detection_messages import detection_frame_from_msg
from mars_core.package_files import default_robot_config
from mars_core.rig import load_rig, load_robot_config
from mars_ros.node_pattern.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher
from mars_ros.node_pattern.node_main import run_node
from mars_ros.node_pattern.parameters import RuntimeParameters, change_text
from mars_ros.node_pattern.timers import steady_timer
from mars_ros.node_pattern.qos import QOS_CHOICES, describe_qos, qos_profile
from mars_core.stream_statistics import StreamStatistics
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig
from mars_tracker.ego_motion import MotionPrior
from mars_ros.messages.track_messages import track_msg_rclpy
from mars_ros.messages.track_markers import camera_frustum_marker, track_marker_points
from mars_core.tracks import TrackSnapshot

ENCODINGS = {"float32": FeatureEncoding.FLOAT32, "uint8": FeatureEncoding.UINT8, "none": FeatureEncoding.NONE}


@dataclass(frozen=True)
class TrackerNodeConfig:
    """Parameters of the tracker node (tracking settings are the `tracker.*` parameters). Topic names without a
    leading / resolve in the node's namespace."""

    robot_config: str = config_field("", "Robot configuration YAML with the rig (empty = the shipped MARS rig)",
                                     read_only=True)
    cameras: Tuple[str, ...] = config_field((), "Cameras to track (empty = every camera of the rig)",
                                            read_only=True)
    detections_topic: str = config_field("detections", "Detections topic inside each camera's namespace",
                                         read_only=True)
    tracks_topic: str = config_field("tracks", "Tracks topic inside each camera's namespace", read_only=True)
    counts_topic: str = config_field("mars/track_counts", "FlowerCount of confirmed tracks per camera",
                                     read_only=True)
    markers_topic: str = config_field("mars/track_markers", "MarkerArray of live tracks (base_link)",
                                      read_only=True)
    marker_plane_height: float = config_field(0.7, "Height (m) at which track markers are drawn", minimum=0.0)
    odometry_topic: str = config_field("", "nav_msgs/Odometry used as ego-motion prior (empty = estimate "
                                           "image motion from the tracks)", read_only=True)
    prior_plane_height: float = config_field(0.7, "Canopy height (m) for the odometry motion prior", minimum=0.0)
    feature_encoding: str = config_field("float32", "Encoding of track embeddings on the wire",
                                         choices=tuple(ENCODINGS))
    qos: str = config_field("reliable", "QoS of detections in and tracks out", choices=QOS_CHOICES)
    qos_depth: int = config_field(100, "History depth of subscriptions and publishers", minimum=1)


class TrackerNode(Node):
    """One CameraTracker per camera, fed by its detections topic."""

    def __init__(self) -> None:
        super().__init__("tracker")
        self.parameters = RuntimeParameters(self)
        self.config = self.parameters.declare(
            TrackerNodeConfig, applied=("marker_plane_height", "prior_plane_height", "feature_encoding"),
            start_up_reason="the subscriptions and publishers are created with it at start-up: restart the node")
        robot_config = self.config.robot_config or str(default_robot_config())
        self.tracker_config = self.parameters.declare(
            TrackerConfig, prefix="tracker.", defaults=load_robot_config(robot_config).get("tracker"),
            defaults_source=f"{robot_config}:tracker", applied=[f.name for f in dataclasses.fields(TrackerConfig)])
        self.parameters.check_no_unknown_overrides()
        from mars_counting.msg import FlowerCount, FlowerDetectionArray, FlowerTrackArray
        from visualization_msgs.msg import MarkerArray

        # Compile (first run) or load (cached) the tracker's numba kernels now, so the first frame is not late.
        compile_s = jit.warm_up()
        self.get_logger().info(f"tracker kernels ready in {compile_s:.2f} s (numba cache: {jit.cache_dir()}"
                               f"{'; NUMBA_DISABLE_JIT: running as Python' if jit.jit_disabled() else ''})")
        rig = load_rig(robot_config)
        cameras = self.config.cameras or rig.camera_names
        self._models = {name: rig.camera(name).model for name in cameras}  # ConfigError names unknown cameras
        self._trackers = {name: CameraTracker(self.tracker_config, camera_model=self._models[name])
                          for name in cameras}
        self._stats = {name: StreamStatistics() for name in cameras}
        self._live: Dict[str, TrackSnapshot] = {name: TrackSnapshot.empty() for name in cameras}
        self._rejected: Dict[str, int] = {name: 0 for name in cameras}
        # Frames missing between consecutive frame_numbers: dropped by the camera, the network or our queue.
        self._missing: Dict[str, int] = {name: 0 for name in cameras}
        self._last_frame: Dict[str, Optional[int]] = {name: None for name in cameras}
        self._last_error: Dict[str, str] = {}
        self._prior: Optional[MotionPrior] = None
        self._encoding = ENCODINGS[self.config.feature_encoding]
        qos = qos_profile(self.config.qos, self.config.qos_depth)
        self._track_publishers = {
            name: self.create_publisher(FlowerTrackArray, f"{name}/{self.config.tracks_topic}", qos)
            for name in cameras}
        self._detection_subscriptions = [
            self.create_subscription(FlowerDetectionArray, f"{name}/{self.config.detections_topic}",
                                     lambda msg, cam=name: self._on_detections(cam, msg), qos)
            for name in cameras]
        self._count_publisher = self.create_publisher(FlowerCount, self.config.counts_topic, qos_profile("latched"))
        self._marker_publisher = self.create_publisher(MarkerArray, self.config.markers_topic, qos_profile("reliable"))
        if self.config.odometry_topic:
            from nav_msgs.msg import Odometry

            self.create_subscription(Odometry, self.config.odometry_topic, self._on_odometry, qos_profile("reliable"))
        self._diagnostics = DiagnosticsPublisher(self)
        steady_timer(self, 0.5, self._publish_counts_and_markers)
        steady_timer(self, 1.0, self._publish_diagnostics)
        self.get_logger().info(f"tracking cameras {list(cameras)}: <camera>/{self.config.detections_topic} -> "
                               f"<camera>/{self.config.tracks_topic} in namespace {self.get_namespace()}, QoS {describe_qos(qos)}")

    def _on_odometry(self, msg: Any) -> None:
        twist = msg.twist.twist
        self._prior = MotionPrior(float(twist.linear.x), float(twist.linear.y), float(twist.angular.z),
                                  self.config.prior_plane_height)

    def _apply_parameter_changes(self) -> None:
        """Hand accepted runtime parameter changes to the trackers (called between frames)."""
        node_change = self.parameters.take()
        if node_change is not None:
            self.config, changes = node_change
            self._encoding = ENCODINGS[self.config.feature_encoding]
            self.get_logger().info(f"parameters changed: {change_text(changes)}")
        tracker_change = self.parameters.take("tracker.")
        if tracker_change is not None:
            self.tracker_config, changes = tracker_change
            for tracker in self._trackers.values():
                tracker.reconfigure(self.tracker_config)
            self.get_logger().info(f"tracker parameters changed (tracks and counts kept): {change_text(changes)}")

    def _on_detections(self, camera: str, msg: Any) -> None:
        self._apply_parameter_changes()
        now = time.monotonic_ns()
        try:
            frame = detection_frame_from_msg(msg)
            if frame.camera_name != camera:
                raise ValueError(f"message on /{camera} says camera_name '{frame.camera_name}'")
            update = self._trackers[camera].update(frame, self._prior)
        except (FeatureMismatchError, ValueError) as exc:
            self._rejected[camera] += 1
            self._last_error[camera] = str(exc)
            self.get_logger().error(f"{camera}: frame rejected: {exc}", throttle_duration_sec=5.0)
            return
        for warning in update.warnings:
            self.get_logger().warning(warning)
        last = self._last_frame[camera]
        if last is not None and frame.frame_number > last + 1:
            self._missing[camera] += frame.frame_number - last - 1
            self.get_logger().warning(f"{camera}: {frame.frame_number - last - 1} frame(s) missing before frame "
                                      f"{frame.frame_number} (dropped upstream or our queue of "
                                      f"{self.config.qos_depth} overflowed)", throttle_duration_sec=5.0)
        self._last_frame[camera] = frame.frame_number
        self._track_publishers[camera].publish(track_msg_rclpy(update, self._encoding))
        self._live[camera] = update.tracks
        latency = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e9
        self._stats[camera].record(now, latency)

    def _publish_counts_and_markers(self) -> None:
        from mars_counting.msg import FlowerCount, NamedCount
        from visualization_msgs.msg import MarkerArray

        stamp = self.get_clock().now().to_msg()
        counts = [NamedCount(name=name, count=int(t.count))
                  for name, t in self._trackers.items()]
        msg = FlowerCount(total=sum(c.count for c in counts), per_camera=counts)
        msg.header.stamp = stamp
        self._count_publisher.publish(msg)
        markers = MarkerArray()
        for index, name in enumerate(self._trackers):
            markers.markers.append(track_marker_points(self._live[name], self._models[name], index, stamp,
                                                       self.config.marker_plane_height))
            markers.markers.append(camera_frustum_marker(self._models[name], index, stamp,
                                                         self.config.marker_plane_height))
        self._marker_publisher.publish(markers)

    def _publish_diagnostics(self) -> None:
        self._apply_parameter_changes()  # also without detections coming in (callbacks run between frames)
        now = time.monotonic_ns()
        statuses = {}
        for index, (name, tracker) in enumerate(self._trackers.items()):
            stats = self._stats[name]
            rejected = self._rejected[name]
            missing = self._missing[name]
            level = ERROR if rejected and name in self._last_error else (
                WARN if tracker.reset_count or missing else OK)
            values = {"rate_hz": stats.rate_hz(now), "frames": stats.total, "active_tracks": tracker.track_count,
                      "confirmed": tracker.confirmed_count, "resets": tracker.reset_count, "rejected": rejected,
                      "missing_frames": missing, "association": tracker.association,
                      **{k: v for k, v in tracker.score_scale.as_dict().items() if v is not None},
                      "min_hits": tracker.config.min_hits,
                      "detections_topic": self._detection_subscriptions[index].topic_name,
                      "tracks_topic": self._track_publishers[name].topic_name,
                      "use_sim_time": self.get_clock().ros_time_is_active,
                      **stats.latency_percentiles()}
            message = self._last_error.get(name) or (f"{missing} frames missing" if missing else "tracking")
            statuses[name] = (level, message, values)
        self._diagnostics.publish(statuses)


def main(args: Optional[List[str]] = None) -> int:
    """Entry point: `ros2 run mars_counting tracker_node --ros-args -p robot_config:=FILE`."""
    return run_node(TrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
