"""Named QoS profiles: every publisher and subscription states its QoS explicitly (and it is configurable)."""
from __future__ import annotations

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)

QOS_CHOICES = ("reliable", "sensor_data", "latched")


def qos_profile(name: str, depth: int = 10) -> QoSProfile:
    """The profile called name: 'reliable' (detections, tracks, counts), 'sensor_data' (images: best effort,
    keep last), 'latched' (reliable + transient local: maps, static data for late joiners)."""
    if name == "reliable":
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    if name == "sensor_data":
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=min(depth, 5),
                          reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
    if name == "latched":
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(depth, 1),
                          reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    raise ValueError(f"unknown QoS profile '{name}'; choose one of {list(QOS_CHOICES)}")


def describe_qos(profile: QoSProfile) -> str:
    """A one-line description for the start-up log (QoS mismatches are the top cause of 'no data')."""
    return (f"{profile.reliability.name.lower()}, {profile.durability.name.lower()}, "
            f"{profile.history.name.lower()} depth {profile.depth}")
