"""Publishing diagnostic_msgs/DiagnosticArray from plain status values."""
from __future__ import annotations

from typing import Dict, Mapping, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from mars_ros.node_pattern.qos import qos_profile

# Levels as plain ints so callers stay ROS-free; DiagnosticStatus.level is a byte field.
OK, WARN, ERROR = 0, 1, 2


class DiagnosticsPublisher:
    """Publishes one DiagnosticStatus per named component on /diagnostics."""

    def __init__(self, node: Node, hardware_id: str = "") -> None:
        self._node = node
        self._hardware_id = hardware_id
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", qos_profile("reliable"))

    def publish(self, statuses: Mapping[str, Tuple[int, str, Dict[str, object]]]) -> None:
        """Publish {component: (level, message, values)}; names are prefixed with the node name."""
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        for component, (level, message, values) in statuses.items():
            status = DiagnosticStatus(level=bytes([int(level)]),
                                      name=f"{self._node.get_name()}: {component}", message=message,
                                      hardware_id=self._hardware_id)
            status.values = [KeyValue(key=str(k), value=_format(v)) for k, v in values.items()]
            array.status.append(status)
        self._publisher.publish(array)


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
