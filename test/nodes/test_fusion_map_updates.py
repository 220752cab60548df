"""The fusion node publishes the map's changes: a subscriber that applies the GeoFlowerMapUpdates in order holds
exactly the whole map the node publishes (GeoFlowerArray), a late subscriber rebuilds it from the kept history,
and the markers replace only the tiles that changed."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

import pytest

from harness.ros_processes import NodeProcess, ros_args, wait_until

pytestmark = pytest.mark.ros


def flower_fields(f: Any) -> Tuple[Any, ...]:
    """Every field of a GeoFlower message, comparable."""
    return (f.id, f.position.x, f.position.y, f.position.z, f.latitude, f.longitude, f.altitude,
            tuple(f.position_covariance), f.observations, tuple(f.cameras), f.first_seen.sec, f.first_seen.nanosec,
            f.last_seen.sec, f.last_seen.nanosec, f.plot_id)


class MapCopy:
    """A subscriber's copy of the map, kept from GeoFlowerMapUpdate messages alone."""

    def __init__(self) -> None:
        self.flowers: Dict[int, Tuple[Any, ...]] = {}
        self.sequence = 0
        self.checked_fulls = 0

    def apply(self, msg: Any) -> None:
        if not self.sequence and not msg.full:
            return   # a late subscriber's history may start before a whole map: wait for one
        if self.sequence:
            assert msg.sequence == self.sequence + 1, "an update was missed"
        if msg.full:
            assert len(msg.removed) == 0
            whole = {f.id: flower_fields(f) for f in msg.changed}
            if self.sequence:
                # The changes alone had already brought the copy to the whole map.
                assert self.flowers == whole
                self.checked_fulls += 1
            self.flowers = whole
        else:
            for gone in msg.removed:
                del self.flowers[gone.id]
                assert gone.merged_into != gone.id
            self.flowers.update({f.id: flower_fields(f) for f in msg.changed})
        self.sequence = msg.sequence
        assert len(self.flowers) == msg.total


def track_feed(run: Any) -> List[Tuple[int, str, Any]]:
    """(stamp, topic, message) of the run's tracks (our tracker on its detections), fixes and IMU samples."""
    from mars_counting.msg import FlowerDetectionArray
    from rclpy.serialization import deserialize_message

    from mars_core.feature_codec import FeatureEncoding
    from mars_core.rig import load_rig, load_robot_config
    from mars_core.stamps import stamp_to_ns
    from mars_ros.bags.bag_files import open_bag_reader
    from mars_ros.messages.detection_messages import detection_frame_from_msg
    from mars_ros.messages.track_messages import track_msg_rclpy
    from mars_ros.nodes.bag_replay import message_class
    from mars_tracker.camera_tracker import CameraTracker
    from mars_tracker.config import TrackerConfig

    robot = run / "rig.yaml"
    rig = load_rig(robot)
    config = TrackerConfig(**(load_robot_config(robot).get("tracker") or {}))
    trackers = {n: CameraTracker(config, camera_model=rig.camera(n).model) for n in rig.camera_names}
    out = []
    reader = open_bag_reader(run / "bag")
    wanted = {f"/{n}/detections" for n in rig.camera_names} | {"/gnss/fix", "/imu/data"}
    for conn, _, data in reader.messages(connections=[c for c in reader.connections if c.topic in wanted]):
        if conn.topic.endswith("/detections"):
            frame = detection_frame_from_msg(deserialize_message(bytes(data), FlowerDetectionArray))
            msg = track_msg_rclpy(trackers[frame.camera_name].update(frame, None), FeatureEncoding.FLOAT32)
            out.append((frame.stamp_ns, f"/{frame.camera_name}/tracks", msg))
        else:
            msg = deserialize_message(bytes(data), message_class(conn.msgtype))
            out.append((stamp_to_ns(msg.header.stamp), conn.topic, msg))
    reader.close()
    out.sort(key=lambda m: m[0])
    return out


def test_applying_the_updates_rebuilds_the_whole_map(quick_run, probe, ros_context):
    from mars_counting.msg import FlowerCount, GeoFlowerArray, GeoFlowerMapUpdate
    from rclpy.node import Node
    from std_msgs.msg import Empty
    from visualization_msgs.msg import Marker, MarkerArray

    from mars_ros.node_pattern.qos import qos_profile

    feed = track_feed(quick_run)
    # Short periods: many updates and several whole maps within the drive.
    fusion = NodeProcess("mars_ros.nodes.fusion_node", ros_args({
        "robot_config": str(quick_run / "rig.yaml"), "publish_period_s": 0.2, "flowers_period_s": 3.0,
        "finalize_after_idle_s": 1.5, "qos_depth": 5000}))
    depth = 5000
    with fusion:
        probe.watch("/mars/flower_updates", GeoFlowerMapUpdate, qos_profile("latched", depth))
        probe.watch("/mars/flowers", GeoFlowerArray, qos_profile("latched", 1))
        probe.watch("/mars/flower_count", FlowerCount, qos_profile("latched", 1))
        probe.watch("/mars/flower_markers", MarkerArray, qos_profile("latched", depth))
        probe.wait_for_publishers("/mars/flower_updates", timeout=60)
        node = Node("map_updates_feed")
        publishers: Dict[str, Any] = {}
        for _, topic, msg in feed:
            if topic not in publishers:
                publishers[topic] = node.create_publisher(type(msg), topic, qos_profile("reliable", depth))
        wait_until(lambda: all(p.get_subscription_count() for p in publishers.values()), 30, what="fusion subscribed")
        time.sleep(0.5)
        start, t0 = time.monotonic(), feed[0][0]
        for stamp, topic, msg in feed:       # twice real time
            wait = (stamp - t0) / 2e9 - (time.monotonic() - start)
            if wait > 0:
                time.sleep(wait)
            publishers[topic].publish(msg)
        # Idle: the node finalizes and publishes the whole map.
        wait_until(lambda: "finalized the map" in fusion.output(), 60, what="the map finalized")
        wait_until(lambda: probe.messages("/mars/flower_updates")[-1].full, 20,
                   what=f"the final whole map\n{fusion.output()[-3000:]}")
        time.sleep(1.0)
        updates = probe.messages("/mars/flower_updates")
        assert updates[0].full and updates[0].sequence == 1
        copy = MapCopy()
        for msg in updates:
            copy.apply(msg)
        final = probe.messages("/mars/flowers")[-1]
        assert len(final.flowers) > 0
        assert copy.flowers == {f.id: flower_fields(f) for f in final.flowers}
        assert copy.checked_fulls >= 2 and sum(not m.full for m in updates) > 10
        assert probe.messages("/mars/flower_count")[-1].total == len(copy.flowers)
        # Between whole maps an update carries only what changed.
        assert max(len(m.changed) for m in updates if not m.full) < len(final.flowers)

        # A late subscriber gets the last whole map and every update since: the same map.
        late = MapCopy()
        late_sub = node.create_subscription(GeoFlowerMapUpdate, "/mars/flower_updates", late.apply,
                                            qos_profile("latched", depth))
        from rclpy.executors import SingleThreadedExecutor
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        deadline = time.monotonic() + 20
        while late.flowers != copy.flowers and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert late.flowers == copy.flowers
        node.destroy_subscription(late_sub)

        # On request the node publishes the whole map again (unchanged).
        before = len(probe.messages("/mars/flower_updates"))
        request = node.create_publisher(Empty, "/fusion/publish_full_map", qos_profile("reliable", 1))
        wait_until(lambda: request.get_subscription_count() > 0, 20, what="the request subscription")
        request.publish(Empty())
        wait_until(lambda: any(m.full for m in probe.messages("/mars/flower_updates")[before:]), 20,
                   what="a whole map on request")
        for msg in probe.messages("/mars/flower_updates")[before:]:
            copy.apply(msg)
        executor.remove_node(node)
        node.destroy_node()

        # The markers: applied in order (ADD replaces by ns/id, DELETE, DELETEALL), they show every flower once.
        shown: Dict[Tuple[str, int], Any] = {}
        for array in probe.messages("/mars/flower_markers"):
            for m in array.markers:
                if m.action == Marker.DELETEALL:
                    shown = {k: v for k, v in shown.items() if k[0] != m.ns}
                elif m.action == Marker.DELETE:
                    shown.pop((m.ns, m.id), None)
                else:
                    shown[(m.ns, m.id)] = m
        points = sorted((p.x, p.y, p.z) for (ns, _), m in shown.items() if ns == "flowers" for p in m.points)
        assert points == sorted((f[1], f[2], f[3]) for f in copy.flowers.values())
        assert ("robot_path", 0) in shown
        assert fusion.interrupt() == 0, fusion.output()
