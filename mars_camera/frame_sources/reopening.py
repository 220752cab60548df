"""A live source that disappears is reopened with exponential back-off; the state feeds diagnostics."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from mars_camera.frame_sources.base import Frame, FrameSource, FrameSourceError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceStatus:
    """What diagnostics report about a source."""

    state: str                 # "streaming", "reopening", "stopped", "ended"
    reopen_attempts: int       # failed opens since the last good frame
    reconnects: int            # successful re-opens after a failure
    last_error: str
    next_attempt_in_s: float
    frames: int

    def as_dict(self) -> Dict[str, Any]:
        """Plain dict (diagnostic key/values)."""
        return dict(self.__dict__)


class ReopeningFrameSource(FrameSource):
    """Wraps a source: read() never raises for a live source; it closes, waits (back-off), reopens."""

    def __init__(self, inner: FrameSource, initial_backoff_s: float = 0.5, max_backoff_s: float = 10.0,
                 multiplier: float = 2.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if initial_backoff_s <= 0 or max_backoff_s < initial_backoff_s or multiplier < 1.0:
            raise ValueError("back-off needs 0 < initial_backoff_s <= max_backoff_s and multiplier >= 1")
        self.inner = inner
        self.name = f"reopening({inner.name})"
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self._mult = multiplier
        self._now = monotonic
        self._stop = threading.Event()
        self._open = False
        self._backoff = initial_backoff_s
        self._next_attempt = 0.0
        self._attempts = 0
        self._reconnects = 0
        self._had_failure = False
        self._last_error = ""
        self._frames = 0
        self._ended = False

    @property
    def is_live(self) -> bool:
        return self.inner.is_live

    def open(self) -> None:
        """First open: errors propagate for finite sources; live sources fall into the retry loop."""
        self._stop.clear()
        try:
            self.inner.open()
            self._open = True
        except FrameSourceError as exc:
            if not self.inner.is_live:
                raise
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._last_error = str(exc)
        self._had_failure = True
        if self._open:
            try:
                self.inner.close()
            except Exception:  # noqa: BLE001 - the device is already gone
                pass
        self._open = False
        self._attempts += 1
        self._next_attempt = self._now() + self._backoff
        LOG.warning("frame source %s failed (%s); reopening in %.1f s", self.inner.name, exc, self._backoff)
        self._backoff = min(self._backoff * self._mult, self._max)

    def read(self) -> Optional[Frame]:
        """The next frame; blocks through reopen attempts; None at the end of a finite source or after stop()."""
        while not self._stop.is_set():
            if not self._open:
                wait = self._next_attempt - self._now()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
                try:
                    self.inner.open()
                    self._open = True
                    if self._had_failure:
                        self._reconnects += 1
                        LOG.info("frame source %s reopened", self.inner.name)
                except FrameSourceError as exc:
                    self._fail(exc)
                    continue
            try:
                frame = self.inner.read()
            except FrameSourceError as exc:
                if not self.inner.is_live:
                    raise
                self._fail(exc)
                continue
            if frame is None:
                if self.inner.is_live:
                    self._fail(FrameSourceError("the camera returned no frame"))
                    continue
                self._ended = True
                return None
            self._frames += 1
            self._attempts = 0
            self._backoff = self._initial
            return frame
        return None

    def stop(self) -> None:
        """Make a blocked read() return None (from another thread)."""
        self._stop.set()

    def resume(self) -> None:
        """Undo stop(): read() delivers frames again, the device stayed open (a lifecycle re-activation)."""
        self._stop.clear()

    def close(self) -> None:
        self._stop.set()
        if self._open:
            self.inner.close()
            self._open = False

    def status(self) -> SourceStatus:
        """State for diagnostics."""
        if self._ended:
            state = "ended"
        elif self._stop.is_set():
            state = "stopped"
        elif self._open:
            state = "streaming"
        else:
            state = "reopening"
        return SourceStatus(state, self._attempts, self._reconnects, self._last_error,
                            max(0.0, self._next_attempt - self._now()) if not self._open else 0.0, self._frames)

    def describe(self) -> Dict[str, Any]:
        info = dict(self.inner.describe())
        info.update(self.status().as_dict())
        return info
