"""TrackAccumulator.expire skips its scan while no open track can be stale: same tracks ended as a full scan."""
from __future__ import annotations

import numpy as np

from mars_core.observations import TrackFrame
from mars_core.tracks import STATUS_LOST, STATUS_TRACKED
from mars_fusion.geolocation.track_accumulator import TrackAccumulator


def test_expiry_ends_exactly_the_tracks_idle_longer_than_the_timeout() -> None:
    rng = np.random.default_rng(4)
    acc = TrackAccumulator(timeout_s=0.5)
    last_seen = {}
    stamp = 0
    for _ in range(400):
        stamp += int(rng.integers(10, 60)) * 1_000_000
        ids = np.unique(rng.integers(0, 12, 4)).astype(np.uint64)
        status = np.where(rng.uniform(size=ids.size) < 0.7, STATUS_TRACKED, STATUS_LOST).astype(np.uint8)
        frame = TrackFrame("cam", stamp, ids, np.tile([10.0, 10.0, 5.0, 5.0], (ids.size, 1)), np.ones(ids.size),
                           np.ones(ids.size, bool), status)
        acc.add(frame)
        for tid, st in zip(ids.tolist(), status.tolist()):
            if st == STATUS_TRACKED:
                last_seen[tid] = stamp
        expected = sorted(t for t, s in last_seen.items() if stamp - s > acc.timeout_ns)
        ended = sorted(t.track_id for t in acc.expire(stamp))
        assert ended == expected
        for t in expected:
            del last_seen[t]
    assert len(acc) == len(last_seen)
