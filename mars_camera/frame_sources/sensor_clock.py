"""Map a sensor's capture timestamps (CLOCK_BOOTTIME / CLOCK_MONOTONIC ns) to ROS (system wall) time.

The offset wall - sensor_clock is measured by bracketing one sensor-clock read between two wall-clock reads
(the tightest of a few tries wins), re-measured periodically (NTP/chrony slews the wall clock) and
smoothed; a jump larger than step_threshold_ns (a clock step) replaces the estimate instead of being
averaged in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Union

CLOCKS = {"boottime": getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC), "monotonic": time.CLOCK_MONOTONIC}


@dataclass(frozen=True)
class OffsetSample:
    """One measurement: offset (wall - sensor) and the uncertainty (half the bracketing interval)."""

    offset_ns: int
    uncertainty_ns: int


class SensorClockMapper:
    """sensor ns -> ROS ns with a periodically re-measured, smoothed offset."""

    def __init__(self, sensor_clock: str = "boottime", remeasure_period_s: float = 5.0, smoothing: float = 0.2,
                 step_threshold_ns: int = 5_000_000, tries: int = 5,
                 wall_ns: Callable[[], int] = time.time_ns,
                 sensor_ns: Optional[Callable[[], int]] = None) -> None:
        if sensor_clock not in CLOCKS:
            raise ValueError(f"sensor_clock must be one of {sorted(CLOCKS)}, got {sensor_clock!r}")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        clock_id = CLOCKS[sensor_clock]
        self.sensor_clock = sensor_clock
        self._wall_ns = wall_ns
        self._sensor_ns = sensor_ns or (lambda: time.clock_gettime_ns(clock_id))
        self._period_ns = int(remeasure_period_s * 1e9)
        self._alpha = smoothing
        self._step_ns = step_threshold_ns
        self._tries = max(1, tries)
        self._offset_ns: Optional[float] = None
        self._last_measure_sensor_ns: Optional[int] = None
        self.measurements = 0
        self.steps = 0
        self.last_sample: Optional[OffsetSample] = None

    def sample(self) -> OffsetSample:
        """The tightest bracketed (wall - sensor) offset of a few tries."""
        best: Optional[OffsetSample] = None
        for _ in range(self._tries):
            w0 = self._wall_ns()
            s = self._sensor_ns()
            w1 = self._wall_ns()
            cand = OffsetSample((w0 + w1) // 2 - s, (w1 - w0) // 2)
            if best is None or cand.uncertainty_ns < best.uncertainty_ns:
                best = cand
        assert best is not None
        return best

    def update(self) -> float:
        """Measure now and fold the sample into the smoothed offset; returns the offset (ns)."""
        sample = self.sample()
        self.last_sample = sample
        self.measurements += 1
        if self._offset_ns is None or abs(sample.offset_ns - self._offset_ns) > self._step_ns:
            if self._offset_ns is not None:
                self.steps += 1
            self._offset_ns = float(sample.offset_ns)
        else:
            self._offset_ns += self._alpha * (sample.offset_ns - self._offset_ns)
        self._last_measure_sensor_ns = self._sensor_ns()
        return self._offset_ns

    @property
    def offset_ns(self) -> Optional[float]:
        """The current smoothed offset (None before the first measurement)."""
        return self._offset_ns

    def to_ros_ns(self, sensor_timestamp_ns: int) -> int:
        """ROS time of a sensor timestamp (re-measuring the offset when the period has elapsed)."""
        now = self._sensor_ns()
        if self._offset_ns is None or self._last_measure_sensor_ns is None or \
                now - self._last_measure_sensor_ns >= self._period_ns:
            self.update()
        assert self._offset_ns is not None
        return int(sensor_timestamp_ns + round(self._offset_ns))

    def describe(self) -> Dict[str, Union[str, float]]:
        """Diagnostics: offset, its last uncertainty, counts."""
        return {"sensor_clock": self.sensor_clock, "offset_ns": float(self._offset_ns or 0.0),
                "uncertainty_ns": float(self.last_sample.uncertainty_ns if self.last_sample else 0),
                "measurements": self.measurements, "steps": self.steps}
