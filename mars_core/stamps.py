"""Time stamps: nanoseconds since the epoch as Python ints, and the ROS ``builtin_interfaces/Time`` split.

Every stage carries stamps as integer nanoseconds; messages carry them as (sec, nanosec). These are the one
conversion between the two (duck-typed: rclpy and rosbags stamps alike).
"""
from __future__ import annotations

from typing import Any, Tuple

NS_PER_S = 1_000_000_000


def stamp_ns(sec: int, nanosec: int) -> int:
    """Integer nanoseconds of a (sec, nanosec) pair."""
    return int(sec) * NS_PER_S + int(nanosec)


def stamp_to_ns(stamp: Any) -> int:
    """Integer nanoseconds of a message stamp (anything with ``sec`` and ``nanosec``, e.g. header.stamp)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def sec_nanosec(ns: int) -> Tuple[int, int]:
    """(sec, nanosec) of integer nanoseconds, nanosec in [0, 1e9) (also for stamps before the epoch)."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return sec, nanosec
