"""Making bad or altered bags from good ones (tests only): keep some topics, shift time, break fixes."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional

from mars_ros.bags.bag_files import BagWriter, open_bag_reader


def rewrite_bag(source: Path, target: Path, keep: Optional[Callable[[str, str], bool]] = None,
                shift_ns: int = 0, edit: Optional[Callable[[str, object], None]] = None,
                storage: str = "mcap") -> Path:
    """Copy source to target keeping topics for which keep(topic, msgtype) is true, shifting every header stamp
    and log time by shift_ns, and letting edit(msgtype, msg) change messages."""
    reader = open_bag_reader(source)
    try:
        with BagWriter(target, storage) as writer:
            for conn, stamp, data in reader.messages():
                if keep is not None and not keep(conn.topic, conn.msgtype):
                    continue
                msg = reader.deserialize(data, conn.msgtype)
                if shift_ns:
                    _shift(msg, shift_ns)
                if edit is not None:
                    edit(conn.msgtype, msg)
                writer.write(conn.topic, conn.msgtype, stamp + shift_ns, msg)
    finally:
        reader.close()
    return target


def _shift(msg: object, shift_ns: int) -> None:
    headers: Iterable[object] = []
    if hasattr(msg, "header"):
        headers = [msg.header]
    elif hasattr(msg, "transforms"):
        headers = [t.header for t in msg.transforms]
    for header in headers:
        total = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec + shift_ns
        header.stamp.sec, header.stamp.nanosec = divmod(total, 1_000_000_000)
