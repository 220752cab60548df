"""bag_replay node: publishes the messages of a recorded rosbag2 on their topics (like `ros2 bag play`).

The rosbag2 CLI is not available from PyPI; this node replays any bag whose message types are importable
(our interfaces and the standard ones) with their recorded bytes, so headers keep their capture stamps.
Pacing follows the log times scaled by `rate`; with `publish_clock` it also publishes /clock for
`use_sim_time` consumers. Messages of types that cannot be imported here (e.g. tf2_msgs in the PyPI
wheels) are skipped with one warning per topic.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from rclpy.node import Node
from rclpy.task import Future

from mars_core.config_schema import ConfigError, config_field
from mars_core.stamps import sec_nanosec
from mars_ros.bags.bag_files import open_bag_reader
from mars_ros.node_pattern.diagnostics import OK, DiagnosticsPublisher
from mars_ros.node_pattern.node_main import run_node
from mars_ros.node_pattern.parameters import RuntimeParameters
from mars_ros.node_pattern.timers import steady_timer
from mars_ros.node_pattern.qos import QOS_CHOICES, describe_qos, qos_profile


def message_class(msgtype: str) -> Any:
    """The rclpy class of 'pkg/msg/Name' (ImportError/AttributeError when not available here)."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


@dataclass(frozen=True)
class BagReplayConfig:
    """Parameters of the bag_replay node."""

    bag_path: str = config_field("", "rosbag2 folder (mcap or sqlite3) to replay", read_only=True)
    topics: Tuple[str, ...] = config_field((), "Topics to replay (empty = every topic with a known type)",
                                           read_only=True)
    rate: float = config_field(1.0, "Playback speed relative to the recorded log times (2.0 = twice as fast)",
                               minimum=0.01)
    loop: bool = config_field(False, "Start again from the beginning after the last message")
    exit_when_done: bool = config_field(True, "Shut the node down after the last message (when not looping)")
    wait_for_subscribers: int = config_field(
        0, "Hold playback until every replayed topic of these types has at least this many subscriptions "
           "(see wait_for_types)", minimum=0)
    wait_for_types: Tuple[str, ...] = config_field(
        ("mars_counting/msg/FlowerDetectionArray",), "Message types whose topics wait_for_subscribers applies to")
    publish_clock: bool = config_field(False, "Publish /clock from the bag's log times (use_sim_time)")
    qos: str = config_field("reliable", "QoS profile of the publishers", choices=QOS_CHOICES)
    qos_depth: int = config_field(100, "History depth of the publishers", minimum=1)

    def __post_init__(self) -> None:
        if not self.bag_path:
            raise ConfigError("bag_path must name a rosbag2 folder")


class BagReplayNode(Node):
    """Publishes recorded messages with their original timing."""

    def __init__(self) -> None:
        super().__init__("bag_replay")
        self.parameters = RuntimeParameters(self)  # runtime changes refused: playback is set up with them
        self.config = self.parameters.declare(BagReplayConfig)
        self.parameters.check_no_unknown_overrides()
        self.finished: Future = Future()
        self._reader = open_bag_reader(self.config.bag_path)
        wanted = set(self.config.topics)
        known = {c.topic for c in self._reader.connections}
        if wanted - known:
            raise ConfigError(f"topics {sorted(wanted - known)} are not in bag {self.config.bag_path}; "
                              f"it has {sorted(known)}")
        qos = qos_profile(self.config.qos, self.config.qos_depth)
        self._topic_publishers: Dict[str, Any] = {}
        self._connections = []
        self._waited: List[Any] = []
        for conn in self._reader.connections:
            if wanted and conn.topic not in wanted:
                continue
            if conn.topic in self._topic_publishers:
                self._connections.append(conn)
                continue
            try:
                cls = message_class(conn.msgtype)
            except (ImportError, AttributeError, ValueError):
                self.get_logger().warning(f"skipping {conn.topic}: type {conn.msgtype} is not available here")
                continue
            topic_qos = qos_profile("latched", self.config.qos_depth) if conn.topic == "/tf_static" else qos
            publisher = self.create_publisher(cls, conn.topic, topic_qos)
            self._topic_publishers[conn.topic] = publisher
            self._connections.append(conn)
            if conn.msgtype in self.config.wait_for_types:
                self._waited.append(publisher)
        if not self._connections:
            raise ConfigError(f"nothing to replay from {self.config.bag_path} (topics {sorted(known)})")
        self._clock_publisher = None
        if self.config.publish_clock:
            from rosgraph_msgs.msg import Clock

            self._clock_publisher = self.create_publisher(Clock, "/clock", qos_profile("sensor_data", 1))
        self.get_logger().info(f"replaying {self.config.bag_path}: {sorted(self._topic_publishers)}, "
                               f"QoS {describe_qos(qos)}, rate {self.config.rate}")
        self._diagnostics = DiagnosticsPublisher(self, hardware_id=self.config.bag_path)
        self._messages: Optional[Iterator[Tuple[Any, int, bytes]]] = None
        self._pending: Optional[Tuple[Any, int, bytes]] = None
        self._first_stamp = 0
        self._start_wall = 0.0
        self.published = 0
        self.loops = 0
        self._timer = steady_timer(self, 0.002, self._tick)
        steady_timer(self, 1.0, self._publish_diagnostics)

    def _subscribers_ready(self) -> bool:
        need = self.config.wait_for_subscribers
        return all(p.get_subscription_count() >= need for p in self._waited)

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
        last_stamp = None
        while self._pending is not None and self._pending[1] - self._first_stamp <= elapsed_ns:
            conn, stamp, data = self._pending
            self._topic_publishers[conn.topic].publish(data)  # CDR bytes: published as recorded
            self.published += 1
            last_stamp = stamp
            self._pending = next(self._messages, None)
        if last_stamp is not None and self._clock_publisher is not None:
            from rosgraph_msgs.msg import Clock

            clock = Clock()
            clock.clock.sec, clock.clock.nanosec = sec_nanosec(last_stamp)
            self._clock_publisher.publish(clock)
        if self._pending is None:
            if self.config.loop:
                self.loops += 1
                self._restart()
            elif not self.finished.done() and self._timer is not None:
                self.get_logger().info(f"replay finished: {self.published} messages published")
                self._timer.cancel()
                self._timer = None
                # Let reliable transport deliver the tail before the node goes away.
                self._finish_timer = steady_timer(self, 1.0, self._finish)

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
    """Entry point: `ros2 run mars_counting bag_replay_node --ros-args -p bag_path:=BAG`."""
    return run_node(BagReplayNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
