"""One stamp conversion and one set of track status codes (mars_core), checked against the interfaces."""
import re
from pathlib import Path
from types import SimpleNamespace

from mars_core.stamps import NS_PER_S, sec_nanosec, stamp_ns, stamp_to_ns
from mars_core.tracks import STATUS_LOST, STATUS_NEW, STATUS_REMOVED, STATUS_TRACKED, TrackStatus

MSG_DIR = Path(__file__).resolve().parents[2] / "msg"


def test_stamp_round_trip():
    for ns in (0, 1, NS_PER_S - 1, NS_PER_S, 1_700_000_000_123_456_789, -1):
        sec, nanosec = sec_nanosec(ns)
        assert 0 <= nanosec < NS_PER_S
        assert stamp_ns(sec, nanosec) == ns
        assert stamp_to_ns(SimpleNamespace(sec=sec, nanosec=nanosec)) == ns
        assert isinstance(stamp_to_ns(SimpleNamespace(sec=sec, nanosec=nanosec)), int)


def test_status_codes_match_flower_track_msg():
    text = (MSG_DIR / "FlowerTrack.msg").read_text()
    constants = {m.group(1): int(m.group(2)) for m in re.finditer(r"^uint8 STATUS_(\w+)=(\d+)", text, re.M)}
    assert constants == {s.name: int(s) for s in TrackStatus}
    plain = (STATUS_NEW, STATUS_TRACKED, STATUS_LOST, STATUS_REMOVED)
    assert plain == tuple(int(s) for s in (TrackStatus.NEW, TrackStatus.TRACKED, TrackStatus.LOST, TrackStatus.REMOVED))
    assert all(type(v) is int for v in plain)   # plain ints, not enum members (speed in status columns)
