"""detection_replay node: publishes the FlowerDetectionArray messages of a recorded bag on their topics.

Stands in for the camera nodes when replaying recorded detections (tests, the Jetson without cameras).
Messages keep their recorded headers (capture stamps); pacing follows those stamps scaled by `rate`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from rclpy.node import Node
from rclpy.task import Future

from mars_camera.config_schema import ConfigError, config_field
from mars_camera.interfaces.bag_files import open_bag_reader
from mars_camera.interfaces.detection_messages import DETECTION_ARRAY_TYPE
from mars_camera.ros_node.diagnostics import OK, DiagnosticsPublisher
from mars_camera.ros_node.node_main import run_node
from mars_camera.ros_node.parameters import declare_config_parameters
from mars_camera.ros_node.qos import QOS_CHOICES, describe_qos, qos_profile


@dataclass(frozen=True)
class DetectionReplayConfig:
    """Parameters of the detection_replay node."""

    bag_path: str = config_field("", "rosbag2 folder (mcap or sqlite3) holding FlowerDetectionArray messages",
                                 read_only=True)
    rate: float = config_field(1.0, "Playback speed relative to the recorded stamps (2.0 = twice as fast)",
                               minimum=0.01)
    loop: bool = config_field(False, "Start again from the beginning after the last message")
    exit_when_done: bool = config_field(True, "Shut the node down after the last message (when not looping)")
    wait_for_subscribers: int = config_field(
        0, "Hold playback until every detections topic has at least this many matched subscriptions", minimum=0)
    qos: str = config_field("reliable", "QoS profile of the detection publishers", choices=QOS_CHOICES)
    qos_depth: int = config_field(100, "History depth of the detection publishers", minimum=1)

    def __post_init__(self) -> None:
        if not self.bag_path:
            raise ConfigError("bag_path must name a rosbag2 folder with recorded detections")


class DetectionReplayNode(Node):
    """Publishes recorded detections with their original timing."""

    def __init__(self) -> None:
        super().__init__("detection_replay")
        self.config = declare_config_parameters(self, DetectionReplayConfig)
        self.finished: Future = Future()
        self._reader = open_bag_reader(self.config.bag_path)
        self._connections = [c for c in self._reader.connections if c.msgtype == DETECTION_ARRAY_TYPE]
        if not self._connections:
            topics = sorted({f"{c.topic} ({c.msgtype})" for c in self._reader.connections})
            raise ConfigError(f"bag_path {self.config.bag_path} holds no {DETECTION_ARRAY_TYPE} messages; "
                              f"it has: {topics}")
        from mars_counting.msg import FlowerDetectionArray

        qos = qos_profile(self.config.qos, self.config.qos_depth)
        self._detection_publishers: Dict[str, Any] = {
            c.topic: self.create_publisher(FlowerDetectionArray, c.topic, qos) for c in self._connections}
        self.get_logger().info(f"replaying {self.config.bag_path}: topics {sorted(self._detection_publishers)}, "
                               f"QoS {describe_qos(qos)}, rate {self.config.rate}")
        self._diagnostics = DiagnosticsPublisher(self, hardware_id=self.config.bag_path)
        self._messages: Optional[Iterator[Tuple[Any, int, bytes]]] = None
        self._pending: Optional[Tuple[Any, int, bytes]] = None
        self._first_stamp = 0
        self._start_wall = 0.0
        self.published = 0
        self.loops = 0
        self._timer = self.create_timer(0.002, self._tick)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)

    def _subscribers_ready(self) -> bool:
        need = self.config.wait_for_subscribers
        return all(p.get_subscription_count() >= need for p in self._detection_publishers.values())

    def _restart(self) -> None:
        self._messages = iter(self._reader.messages(connections=self._connections))
        self._pending = next(self._messages, None)
        self._first_stamp = self._pending[1] if self._pending else 0
        self._start_wall = time.monotonic()

    def _tick(self) -> None:
        if self._messages is None:
            if not self._subscribers_ready():
                return
            self._restart()
        elapsed_ns = (time.monotonic() - self._start_wall) * 1e9 * self.config.rate
        while self._pending is not None and self._pending[1] - self._first_stamp <= elapsed_ns:
            conn, _, data = self._pending
            self._detection_publishers[conn.topic].publish(data)  # CDR bytes: published as recorded
            self.published += 1
            self._pending = next(self._messages, None)
        if self._pending is None:
            if self.config.loop:
                self.loops += 1
                self._restart()
            elif not self.finished.done():
                self.get_logger().info(f"replay finished: {self.published} messages published")
                self._timer.cancel()
                # Let reliable transport deliver the tail before the node goes away.
                self._finish_timer = self.create_timer(1.0, self._finish)

    def _finish(self) -> None:
        self._finish_timer.cancel()
        if self.config.exit_when_done:
            self.finished.set_result(self.published)

    def _publish_diagnostics(self) -> None:
        self._diagnostics.publish({"replay": (OK, "playing" if self._pending is not None else "idle",
                                              {"published": self.published, "loops": self.loops})})

    def close(self) -> None:
        """Release the bag."""
        self._reader.close()


def main(args: Optional[List[str]] = None) -> int:
    """Entry point: `ros2 run mars_counting detection_replay_node --ros-args -p bag_path:=BAG`."""
    return run_node(DetectionReplayNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
