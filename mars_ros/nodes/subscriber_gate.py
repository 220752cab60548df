"""subscriber_gate node: exits 0 once every given topic has enough subscriptions (exit 1 after a timeout).

replay.launch.py starts `ros2 bag play` when this node exits, so the tracker and the fusion are listening before
the first message is played (rosbag2's player does not wait for subscribers itself).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from rclpy.node import Node
from rclpy.task import Future

from mars_core.config_schema import ConfigError, config_field
from mars_ros.node_pattern.node_main import run_node
from mars_ros.node_pattern.parameters import RuntimeParameters
from mars_ros.node_pattern.timers import steady_timer


@dataclass(frozen=True)
class SubscriberGateConfig:
    """Parameters of the subscriber_gate node."""

    topics: Tuple[str, ...] = config_field((), "Topics that must have subscriptions (relative: in the namespace)",
                                           read_only=True)
    subscribers: int = config_field(1, "Subscriptions each topic needs", minimum=0, read_only=True)
    timeout_s: float = config_field(60.0, "Give up (exit 1) after this many seconds", greater_than=0.0,
                                    read_only=True)

    def __post_init__(self) -> None:
        if not self.topics:
            raise ConfigError("topics must name at least one topic")


class SubscriberGateNode(Node):
    """Polls the graph until the topics have their subscriptions; `finished` holds the exit code."""

    def __init__(self) -> None:
        super().__init__("subscriber_gate")
        self.parameters = RuntimeParameters(self)
        self.config = self.parameters.declare(SubscriberGateConfig)
        self.parameters.check_no_unknown_overrides()
        self.finished: Future = Future()
        self._topics = [self.resolve_topic_name(t) for t in self.config.topics]
        self._deadline = time.monotonic() + self.config.timeout_s
        self.get_logger().info(f"waiting for {self.config.subscribers} subscription(s) on {self._topics}")
        # Graph polling on the steady clock: with use_sim_time there is no /clock before the replay starts.
        steady_timer(self, 0.1, self._check)

    def _check(self) -> None:
        if self.finished.done():
            return
        missing = [t for t in self._topics if self.count_subscribers(t) < self.config.subscribers]
        if not missing:
            self.get_logger().info("every topic has its subscriptions: go")
            self.finished.set_result(0)
        elif time.monotonic() > self._deadline:
            self.get_logger().error(f"no subscription on {missing} after {self.config.timeout_s:g} s")
            self.finished.set_result(1)


def main(args: Optional[List[str]] = None) -> int:
    """Entry point: `ros2 run mars_counting subscriber_gate_node --ros-args -p topics:="['/gnss/fix']"`."""
    holder: List[SubscriberGateNode] = []

    def make() -> SubscriberGateNode:
        holder.append(SubscriberGateNode())
        return holder[0]

    code = run_node(make, args)
    if code == 0 and holder and holder[0].finished.done():
        return int(holder[0].finished.result())
    return code


if __name__ == "__main__":
    raise SystemExit(main())
