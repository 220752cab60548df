"""fusion node (Jetson): per-camera tracks + GNSS + heading -> the de-duplicated, geo-located flower map.

Subscribes to /<camera>/tracks of every configured camera, NavSatFix and (optionally) an Imu heading; feeds the
FlowerMapper core (the same as the offline counter) and publishes the flower array, the count and rviz markers
(latched: late rviz sessions get the map), plus diagnostics. Every publish_period_s only what changed goes out
(GeoFlowerMapUpdate, the changed marker tiles, the count), every flowers_period_s and on request the whole map.
The map is saved atomically every save_period_s and on shutdown; a restarted node resumes from the saved map.

Runtime parameter changes (`ros2 param set`): flowers_period_s and finalize_after_idle_s are applied at the next
publication tick; the `fusion.*` parameters are start-up only (the pose track, reorder buffer, geolocator and
flower map are built from them, and the map already collected depends on them), as are the timer periods and
QoS: those changes are refused with the reason and the map is untouched. Each parameter's description says which.

Not a lifecycle node: it owns no device, and deactivate/cleanup would mean dropping or freezing the map it
collects; the map is saved (map_file) and resumed by a restarted process instead.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, List, Optional

import rclpy.logging
from rclpy.node import Node

from mars_core import jit
from mars_core.config_schema import config_field
from mars_core.package_files import default_robot_config
from mars_core.rig import load_rig, load_robot_config
from mars_ros.node_pattern.diagnostics import OK, WARN, DiagnosticsPublisher
from mars_ros.node_pattern.node_main import run_node
from mars_ros.node_pattern.parameters import RuntimeParameters, change_text
from mars_ros.node_pattern.timers import steady_timer
from mars_ros.node_pattern.qos import QOS_CHOICES, describe_qos, qos_profile
from mars_fusion.config import FusionConfig
from mars_fusion.exports import write_all
from mars_fusion.map_changes import MapChangeTracker
from mars_fusion.mapper import FlowerMapper
from mars_ros.messages.fusion_inputs import gnss_fix_from_msg, heading_from_imu_msg, track_frame_from_msg
from mars_ros.messages.map_messages import (FlowerMarkerTiles, count_msg, flower_array_msg, flower_update_msg,
                                            geo_flowers)


@dataclass(frozen=True)
class FusionNodeConfig:
    """Parameters of the fusion node (fusion settings are the `fusion.*` parameters). Topic names without a leading
    / resolve in the node's namespace."""

    robot_config: str = config_field("", "Robot configuration YAML with the rig (empty = the shipped MARS rig)",
                                     read_only=True)
    tracks_topic: str = config_field("tracks", "Tracks topic inside each camera's namespace", read_only=True)
    fix_topic: str = config_field("gnss/fix", "sensor_msgs/NavSatFix topic", read_only=True)
    imu_topic: str = config_field("imu/data", "sensor_msgs/Imu with the heading (empty = course over ground)",
                                  read_only=True)
    flowers_topic: str = config_field("mars/flowers", "GeoFlowerArray output: the whole map (latched)",
                                      read_only=True)
    updates_topic: str = config_field(
        "mars/flower_updates", "GeoFlowerMapUpdate output: the map's changes, and the whole map every "
        "flowers_period_s (latched with the updates since it)", read_only=True)
    count_topic: str = config_field("mars/flower_count", "FlowerCount output (latched)", read_only=True)
    markers_topic: str = config_field("mars/flower_markers", "MarkerArray output (latched)", read_only=True)
    publish_period_s: float = config_field(1.0, "Seconds between publications of the map's changes (updates, "
                                           "markers, count)", minimum=0.05)
    flowers_period_s: float = config_field(
        60.0, "Seconds between publications of the whole map (GeoFlowerArray, a full update, every marker tile: "
        "costly for large maps; also on request and when finalized)", minimum=0.05)
    map_file: str = config_field("", "Map state file: saved atomically, resumed at start (empty = no saving)",
                                 read_only=True)
    save_period_s: float = config_field(30.0, "Seconds between map saves", minimum=1.0)
    export_dir: str = config_field("", "Folder for flowers.csv/.geojson/.kml and map.png on shutdown (empty = none)",
                                   read_only=True)
    plots_geojson: str = config_field("", "GeoJSON of plot polygons for per-plot counts (empty = row segments)",
                                      read_only=True)
    finalize_after_idle_s: float = config_field(
        0.0, "End all open tracks and consolidate when no tracks arrived for this long (0 = never; replays)",
        minimum=0.0)
    qos: str = config_field("reliable", "QoS of tracks and GNSS subscriptions", choices=QOS_CHOICES)
    qos_depth: int = config_field(200, "History depth of the subscriptions", minimum=1)


class FusionNode(Node):
    """Feeds the FlowerMapper core from topics and publishes the map."""

    def __init__(self) -> None:
        super().__init__("fusion")
        self.parameters = RuntimeParameters(self)
        self.config = self.parameters.declare(
            FusionNodeConfig, applied=("flowers_period_s", "finalize_after_idle_s"),
            start_up_reason="timers and subscriptions are created with it at start-up: restart the node")
        robot_config = self.config.robot_config or str(default_robot_config())
        self.fusion_config = self.parameters.declare(
            FusionConfig, prefix="fusion.", defaults=load_robot_config(robot_config).get("fusion"),
            defaults_source=f"{robot_config}:fusion",
            start_up_reason="the map being collected is built with it: set it in the robot configuration and "
                            "restart (the map is resumed from map_file)")
        self.parameters.check_no_unknown_overrides()
        from mars_counting.msg import FlowerCount, FlowerTrackArray, GeoFlowerArray, GeoFlowerMapUpdate
        from std_msgs.msg import Empty
        from sensor_msgs.msg import Imu, NavSatFix
        from visualization_msgs.msg import MarkerArray

        self.rig = load_rig(robot_config)
        if self.config.map_file:
            self.mapper = FlowerMapper.resume(self.fusion_config, self.rig, self.config.map_file)
            if self.mapper.count():
                self.get_logger().info(f"resumed {self.mapper.count()} flowers from {self.config.map_file}")
        else:
            self.mapper = FlowerMapper(self.fusion_config, self.rig)
        if self.config.plots_geojson:
            self._plots_pending = True
        qos = qos_profile(self.config.qos, self.config.qos_depth)
        self._track_subscriptions = [
            self.create_subscription(FlowerTrackArray, f"{cam}/{self.config.tracks_topic}",
                                     lambda msg, c=cam: self._on_tracks(c, msg), qos)
            for cam in self.rig.camera_names]
        self._fix_subscription = self.create_subscription(NavSatFix, self.config.fix_topic, self._on_fix, qos)
        if self.config.imu_topic:
            self.create_subscription(Imu, self.config.imu_topic, self._on_imu, qos)
        latched = qos_profile("latched", 1)
        # Updates and markers keep the publications since the last whole map: a late subscriber gets that map
        # and every change after it.
        history = qos_profile("latched", self.map_history_depth())
        self._flowers_pub = self.create_publisher(GeoFlowerArray, self.config.flowers_topic, latched)
        self._updates_pub = self.create_publisher(GeoFlowerMapUpdate, self.config.updates_topic, history)
        self._count_pub = self.create_publisher(FlowerCount, self.config.count_topic, latched)
        self._markers_pub = self.create_publisher(MarkerArray, self.config.markers_topic, history)
        self.create_subscription(Empty, "~/publish_full_map", self._on_full_map_request, qos_profile("reliable", 1))
        self._map_changes = MapChangeTracker(self.mapper)
        self._marker_tiles = FlowerMarkerTiles()
        self._full_map_requested = False
        self._diagnostics = DiagnosticsPublisher(self)
        self._last_tracks = time.monotonic()
        self._dirty = False
        self._last_flowers = 0.0
        self._finalized_count: Optional[int] = None
        self._errors = 0
        self._last_error = ""
        steady_timer(self, self.config.publish_period_s, self._tick)
        steady_timer(self, 1.0, self._publish_diagnostics)
        if self.config.map_file:
            steady_timer(self, self.config.save_period_s, self._save)
        compile_s = jit.warm_up()   # the fusion's numba kernels: compiled (first run) or loaded now, not mid-drive
        self.get_logger().info(f"fusion kernels ready in {compile_s:.2f} s (numba cache: {jit.cache_dir()})")
        self.get_logger().info(f"fusing tracks of {list(self.rig.camera_names)} with {self.config.fix_topic}"
                               f"{' and ' + self.config.imu_topic if self.config.imu_topic else ''}, "
                               f"QoS {describe_qos(qos)}")

    def _on_tracks(self, camera: str, msg: Any) -> None:
        try:
            frame, ended = track_frame_from_msg(msg)
            self.mapper.add_tracks(frame, ended)
        except ValueError as exc:
            self._errors += 1
            self._last_error = f"{camera}: {exc}"
            self.get_logger().error(f"tracks of {camera} rejected: {exc}", throttle_duration_sec=5.0)
            return
        self._last_tracks = time.monotonic()
        self._dirty = True
        self._finalized_count = None

    def _on_fix(self, msg: Any) -> None:
        self.mapper.add_fix(gnss_fix_from_msg(msg))
        if getattr(self, "_plots_pending", False) and self.mapper.map_frame is not None:
            self.mapper.set_plots(self.config.plots_geojson)
            self._plots_pending = False
            self._full_map_requested = True   # every flower's plot id changed

    def _on_imu(self, msg: Any) -> None:
        sample = heading_from_imu_msg(msg)
        if sample is not None:
            self.mapper.add_heading(sample)

    def map_history_depth(self) -> int:
        """Publications kept for late subscribers of the updates and markers: the whole map and those after it."""
        return math.ceil(self.config.flowers_period_s / self.config.publish_period_s) + 1

    def _on_full_map_request(self, _msg: Any) -> None:
        self._full_map_requested = True

    def _tick(self) -> None:
        change = self.parameters.take()
        if change is not None:
            self.config = change[0]
            self.get_logger().info(f"parameters changed: {change_text(change[1])}")
        idle = time.monotonic() - self._last_tracks
        if (self.config.finalize_after_idle_s > 0 and self._dirty
                and idle >= self.config.finalize_after_idle_s):
            self._finalized_count = self.mapper.finalize()
            self.get_logger().info(f"no tracks for {idle:.1f} s: finalized the map, {self._finalized_count} flowers")
            self._dirty = False
            self._publish_map()
        elif self._dirty or self._full_map_requested:
            self._publish_map()

    def _publish_map(self) -> None:
        if self.mapper.map_frame is None:
            return  # no datum yet: nothing can be geo-located
        stamp = self.get_clock().now().to_msg()
        now = time.monotonic()
        full = (now - self._last_flowers >= self.config.flowers_period_s or self._finalized_count is not None
                or self._full_map_requested)
        if full:
            self._last_flowers = now
            self._full_map_requested = False
        for changes in self._map_changes.publish(full=full):
            flowers = geo_flowers(changes.changed)
            self._updates_pub.publish(flower_update_msg(changes, stamp, flowers))
            if changes.full:
                self._flowers_pub.publish(flower_array_msg(changes.changed, stamp, flowers))
            self._markers_pub.publish(self._marker_tiles.markers_msg(changes, stamp))
        self._count_pub.publish(count_msg(changes.total, changes.per_camera, changes.per_plot, stamp))

    def _save(self) -> None:
        if self.mapper.map_frame is not None:
            self.mapper.save(self.config.map_file)

    def _publish_diagnostics(self) -> None:
        values = {"flowers": self.mapper.count(), "rejected_track_messages": self._errors,
                  "fix_topic": self._fix_subscription.topic_name, "use_sim_time": self.get_clock().ros_time_is_active,
                  **{k: v for k, v in self.mapper.diagnostics().items()}}
        level = WARN if self._errors else OK
        self._diagnostics.publish({"map": (level, self._last_error or "mapping", values)})

    def close(self) -> None:
        """End of data: finalize, save the map and write the exports."""
        log = rclpy.logging.get_logger("mars.fusion")
        count = self.mapper.finalize()
        if self.mapper.map_frame is None:
            log.warning("no good GNSS fix was received: nothing to save or export")
            return
        if self.config.map_file:
            self.mapper.save(self.config.map_file)
        if self.config.export_dir:
            write_all(self.mapper.snapshot(), self.config.export_dir)
        log.info(f"final map: {count} flowers")


def main(args: Optional[List[str]] = None) -> int:
    """Entry point: `ros2 run mars_counting fusion_node --ros-args -p robot_config:=FILE -p map_file:=FILE`."""
    return run_node(FusionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
