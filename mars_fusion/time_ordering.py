"""A bounded-delay reorder buffer across several message streams, with session restarts on time jumps back.

Messages of several cameras and the GNSS arrive late and out of order. Each is held until data at least
``delay`` newer has arrived on any stream, then released in stamp order. A stream whose stamps go back by
more than ``jump_back`` (a looping bag, a restarted recording) starts a new session: everything buffered
is released first, then a ``SessionStart`` marker.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple


@dataclass(frozen=True)
class SessionStart:
    """Marker released before the first message of a new session."""

    session: int
    stream: str
    stamp_ns: int


@dataclass(frozen=True)
class Released:
    """A message released in stamp order."""

    stamp_ns: int
    stream: str
    payload: Any


class ReorderBuffer:
    """Holds messages until ``delay_s`` newer data arrived; releases them sorted by stamp."""

    def __init__(self, delay_s: float, jump_back_s: float) -> None:
        self.delay_ns = int(delay_s * 1e9)
        self.jump_back_ns = int(jump_back_s * 1e9)
        self.session = 0
        self.counters: Counter = Counter()
        self._heap: List[Tuple[int, int, str, Any]] = []
        self._seq = 0
        self._newest = None  # type: Any
        self._released_upto = None  # type: Any
        self._stream_last: Dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, stream: str, stamp_ns: int, payload: Any) -> List[Released]:
        """Add a message; returns the messages now due (and a SessionStart marker on a jump back)."""
        stamp_ns = int(stamp_ns)
        out: List[Released] = []
        last = self._stream_last.get(stream)
        if last is not None and stamp_ns < last - self.jump_back_ns:
            out.extend(self.flush())
            self.session += 1
            self.counters["sessions_started"] += 1
            self._newest = None
            self._released_upto = None
            self._stream_last.clear()
            out.append(Released(stamp_ns, stream, SessionStart(self.session, stream, stamp_ns)))
        self._stream_last[stream] = stamp_ns if last is None or out else max(last, stamp_ns)
        if self._released_upto is not None and stamp_ns < self._released_upto:
            # Later than the delay allows: processed now rather than lost, and counted.
            self.counters["late_messages"] += 1
            out.append(Released(stamp_ns, stream, payload))
            return out
        heapq.heappush(self._heap, (stamp_ns, self._seq, stream, payload))
        self._seq += 1
        self._newest = stamp_ns if self._newest is None else max(self._newest, stamp_ns)
        out.extend(self._release(self._newest - self.delay_ns))
        return out

    def _release(self, upto_ns: int) -> List[Released]:
        out = []
        while self._heap and self._heap[0][0] <= upto_ns:
            stamp, _, stream, payload = heapq.heappop(self._heap)
            out.append(Released(stamp, stream, payload))
            self._released_upto = stamp
        return out

    def flush(self) -> List[Released]:
        """Release everything held, in stamp order."""
        out = []
        while self._heap:
            stamp, _, stream, payload = heapq.heappop(self._heap)
            out.append(Released(stamp, stream, payload))
            self._released_upto = stamp
        return out
