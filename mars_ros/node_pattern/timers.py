"""Housekeeping timers on the steady (wall) clock: with use_sim_time a replay that stops also stops /clock,
and timers on ROS time would never fire again (no final map, no diagnostics)."""
from __future__ import annotations

from typing import Callable

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.timer import Timer


def steady_timer(node: Node, period_s: float, callback: Callable[[], None]) -> Timer:
    """A timer of node firing every period_s seconds of steady time."""
    return node.create_timer(period_s, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))
