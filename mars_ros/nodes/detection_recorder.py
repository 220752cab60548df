"""detection_recorder node: records FlowerDetectionArray topics into a rosbag2 (mcap or sqlite3).

A recorder that works without the rosbag2 CLI (not available from PyPI): it validates each message
(feature block consistency) while recording, and reports rates in diagnostics. Invalid messages are still
recorded (no data is dropped) and counted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import rclpy.logging
from rclpy.node import Node
from rclpy.serialization import serialize_message

from mars_core.config_schema import ConfigError, config_field
from mars_ros.bags.bag_files import STORAGE_CHOICES, BagWriter
from mars_ros.messages.detection_messages import DETECTION_ARRAY_TYPE, detection_frame_from_msg
from mars_ros.node_pattern.diagnostics import OK, WARN, DiagnosticsPublisher
from mars_ros.node_pattern.node_main import run_node
from mars_ros.node_pattern.parameters import RuntimeParameters
from mars_ros.node_pattern.timers import steady_timer
from mars_ros.node_pattern.qos import QOS_CHOICES, describe_qos, qos_profile
from mars_core.stream_statistics import StreamStatistics


@dataclass(frozen=True)
class DetectionRecorderConfig:
    """Parameters of the detection_recorder node."""

    output_path: str = config_field("", "New rosbag2 folder to write (must not exist)", read_only=True)
    storage: str = config_field("mcap", "Bag storage format", choices=STORAGE_CHOICES, read_only=True)
    topics: Tuple[str, ...] = config_field((), "FlowerDetectionArray topics to record", read_only=True)
    qos: str = config_field("reliable", "QoS profile of the subscriptions", choices=QOS_CHOICES)
    qos_depth: int = config_field(100, "History depth of the subscriptions", minimum=1)

    def __post_init__(self) -> None:
        if not self.output_path:
            raise ConfigError("output_path must name the bag folder to create")
        if not self.topics:
            raise ConfigError("topics must list at least one FlowerDetectionArray topic")


class DetectionRecorderNode(Node):
    """Subscribes to detection topics and writes every message into a bag."""

    def __init__(self) -> None:
        super().__init__("detection_recorder")
        self.parameters = RuntimeParameters(self)  # runtime changes refused: the bag is open with them
        self.config = self.parameters.declare(DetectionRecorderConfig)
        self.parameters.check_no_unknown_overrides()
        from mars_counting.msg import FlowerDetectionArray

        self._writer = BagWriter(self.config.output_path, self.config.storage)
        qos = qos_profile(self.config.qos, self.config.qos_depth)
        self._stats: Dict[str, StreamStatistics] = {}
        self._invalid: Dict[str, int] = {}
        self._detection_subscriptions = []
        for topic in self.config.topics:
            self._stats[topic] = StreamStatistics()
            self._invalid[topic] = 0
            self._detection_subscriptions.append(self.create_subscription(
                FlowerDetectionArray, topic, lambda msg, t=topic: self._on_detections(t, msg), qos))
        self.get_logger().info(f"recording {list(self.config.topics)} into {self.config.output_path} "
                               f"({self.config.storage}), QoS {describe_qos(qos)}")
        self._diagnostics = DiagnosticsPublisher(self, hardware_id=self.config.output_path)
        steady_timer(self, 1.0, self._publish_diagnostics)

    def _on_detections(self, topic: str, msg: object) -> None:
        now_ns = self.get_clock().now().nanoseconds
        try:
            frame = detection_frame_from_msg(msg)
            latency = (now_ns - frame.stamp_ns) / 1e9
        except ValueError as exc:
            self._invalid[topic] += 1
            self.get_logger().warning(f"{topic}: recording an invalid message: {exc}")
            latency = None
        self._writer.write_cdr(topic, DETECTION_ARRAY_TYPE, now_ns, serialize_message(msg))
        self._stats[topic].record(time.monotonic_ns(), latency)

    def _publish_diagnostics(self) -> None:
        now = time.monotonic_ns()
        statuses = {}
        for topic, stats in self._stats.items():
            invalid = self._invalid[topic]
            values = {"messages": stats.total, "rate_hz": stats.rate_hz(now), "invalid": invalid,
                      **stats.latency_percentiles()}
            statuses[topic] = (WARN if invalid else OK, "invalid messages recorded" if invalid else "recording",
                               values)
        self._diagnostics.publish(statuses)

    def close(self) -> None:
        """Finish the bag so it is readable (metadata written)."""
        self._writer.close()
        # Not the node logger: after SIGINT the context (and /rosout) is already gone.
        rclpy.logging.get_logger("mars.detection_recorder").info(
            f"wrote {self._writer.messages_written} messages to {self.config.output_path}")


def main(args: Optional[List[str]] = None) -> int:
    """Entry point: `ros2 run mars_counting detection_recorder_node --ros-args -p output_path:=BAG -p topics:=[...]`."""
    return run_node(DetectionRecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
