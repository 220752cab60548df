"""Rate and latency statistics of a message stream (ROS-free; feeds the nodes' diagnostics)."""
from __future__ import annotations

import collections
from typing import Deque, Dict, Optional

import numpy as np


class StreamStatistics:
    """Sliding-window message rate and latency percentiles of one stream."""

    def __init__(self, window_s: float = 5.0, max_samples: int = 2000) -> None:
        self._window_ns = int(window_s * 1e9)
        self._arrivals: Deque[int] = collections.deque(maxlen=max_samples)
        self._latencies: Deque[float] = collections.deque(maxlen=max_samples)
        self.total = 0

    def record(self, arrival_ns: int, latency_s: Optional[float] = None) -> None:
        """Count one message arriving at arrival_ns (monotonic), with its latency if known."""
        self._arrivals.append(arrival_ns)
        if latency_s is not None:
            self._latencies.append(latency_s)
        self.total += 1

    def rate_hz(self, now_ns: int) -> float:
        """Messages per second over the window ending at now_ns."""
        recent = [t for t in self._arrivals if now_ns - t <= self._window_ns]
        if len(recent) < 2:
            return 0.0
        span = (recent[-1] - recent[0]) / 1e9
        return (len(recent) - 1) / span if span > 0 else 0.0

    def latency_percentiles(self) -> Dict[str, float]:
        """p50 and p99 latency in seconds of the recent samples (empty without samples)."""
        if not self._latencies:
            return {}
        values = np.fromiter(self._latencies, float)
        return {"latency_p50_s": float(np.percentile(values, 50)), "latency_p99_s": float(np.percentile(values, 99))}
