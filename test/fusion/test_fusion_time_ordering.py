"""ReorderBuffer: stamp order after a bounded delay, late messages kept and counted, session on time jump back."""
from __future__ import annotations

import numpy as np

from mars_fusion.time_ordering import ReorderBuffer, SessionStart

MS = 1_000_000


def test_out_of_order_messages_come_out_sorted() -> None:
    buf = ReorderBuffer(delay_s=0.1, jump_back_s=1.0)
    rng = np.random.default_rng(1)
    stamps = np.arange(0, 2000, 10) * MS
    jitter = stamps + rng.integers(0, 60, stamps.shape[0]) * MS          # up to 60 ms late, < delay
    order = np.argsort(jitter, kind="stable")
    out = []
    for i in order:
        out += buf.push(f"cam{i % 3}", int(stamps[i]), int(i))
    out += buf.flush()
    got = [m.stamp_ns for m in out]
    assert got == sorted(got) and len(got) == stamps.shape[0]
    assert buf.counters["late_messages"] == 0


def test_nothing_is_released_before_the_delay() -> None:
    buf = ReorderBuffer(delay_s=0.5, jump_back_s=1.0)
    assert buf.push("a", 0, "x") == []
    assert buf.push("b", 400 * MS, "y") == []
    released = buf.push("a", 600 * MS, "z")
    assert [m.payload for m in released] == ["x"]


def test_too_late_message_is_processed_and_counted() -> None:
    buf = ReorderBuffer(delay_s=0.1, jump_back_s=5.0)
    buf.push("a", 0, 1)
    assert [m.payload for m in buf.push("a", 500 * MS, 2)] == [1]      # watermark 400 ms
    assert [m.payload for m in buf.push("b", 100 * MS, 3)] == [3]      # already due, still in order
    assert buf.counters["late_messages"] == 0
    assert [m.payload for m in buf.push("a", 900 * MS, 4)] == [2]
    late = buf.push("b", 200 * MS, 5)       # older than the released 500 ms: handed out at once, counted
    assert [m.payload for m in late] == [5]
    assert buf.counters["late_messages"] == 1


def test_time_jump_back_starts_a_new_session_after_flushing_the_old() -> None:
    buf = ReorderBuffer(delay_s=0.2, jump_back_s=1.0)
    out = []
    for k in range(20):
        out += buf.push("gnss", k * 100 * MS, ("old", k))
    assert len(out) < 20                              # the last 0.2 s are still held
    out += buf.push("gnss", 0, ("new", 0))            # bag loop
    assert isinstance(out[-1].payload, SessionStart) and buf.session == 1
    old = [m.payload[1] for m in out[:-1]]
    assert old == list(range(20))                     # the whole old session came out, in order, before the marker
    # the other streams going back too do not start yet another session
    assert not any(isinstance(m.payload, SessionStart) for m in buf.push("cam", 10 * MS, "c"))
    assert [m.payload for m in buf.flush()] == [("new", 0), "c"]
