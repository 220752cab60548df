"""Reading what is left of a truncated mcap bag (a recorder that died before writing the footer).

rosbags needs the mcap summary at the end of the file; this reader walks the records from the start instead
and stops cleanly at the first incomplete one, so an offline count can use every complete message. It offers
the small part of rosbags' AnyReader interface the counter uses (connections, messages, deserialize).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from rosbags.typesys import get_types_from_msg

from mars_ros.bags.typestore import mars_typestore

MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK = 0x03, 0x04, 0x05, 0x06


@dataclass
class SalvagedConnection:
    """A channel of the salvaged bag (topic, type, complete messages found)."""

    id: int
    topic: str
    msgtype: str
    msgcount: int = 0


class SalvagedMcap:
    """Sequential reader over the complete records of a (possibly truncated) mcap file."""

    def __init__(self, path: Union[str, Path]) -> None:
        path = Path(path)
        files = [path] if path.is_file() else sorted(path.glob("*.mcap"))
        if not files:
            raise FileNotFoundError(f"no .mcap file in {path}")
        self.files = files
        self.typestore = mars_typestore()
        self._schemas: Dict[int, Tuple[str, str]] = {}
        self._channels: Dict[int, SalvagedConnection] = {}
        self.bytes_read = 0
        self.bytes_total = sum(f.stat().st_size for f in files)
        self.complete = True
        for _ in self._records(index_only=True):   # first pass: channels and message counts
            pass

    @property
    def connections(self) -> List[SalvagedConnection]:
        """Every channel found before the file ends."""
        return list(self._channels.values())

    def _records(self, index_only: bool = False) -> Iterator[Tuple[SalvagedConnection, int, bytes]]:
        self.bytes_read = 0
        for file in self.files:
            data = file.read_bytes()
            if not data.startswith(MAGIC):
                self.complete = False
                continue
            yield from self._walk(data, len(MAGIC), len(data), index_only, top_level=True)

    def _walk(self, data: bytes, start: int, end: int, index_only: bool, top_level: bool
              ) -> Iterator[Tuple[SalvagedConnection, int, bytes]]:
        off = start
        while off + 9 <= end:
            op = data[off]
            (length,) = struct.unpack_from("<Q", data, off + 1)
            body_start, body_end = off + 9, off + 9 + length
            if body_end > end:
                self.complete = False   # the record was cut off: stop here
                return
            if op == OP_SCHEMA:
                sid, = struct.unpack_from("<H", data, body_start)
                name, pos = _string(data, body_start + 2)
                _, pos = _string(data, pos)
                (dlen,) = struct.unpack_from("<I", data, pos)
                text = data[pos + 4:pos + 4 + dlen].decode()
                self._schemas[sid] = (name, text)
                if index_only and name not in self.typestore.types:
                    try:
                        self.typestore.register(get_types_from_msg(text, name))
                    except Exception:  # definitions of unknown dependent types: the topic stays unusable
                        pass
            elif op == OP_CHANNEL:
                cid, sid = struct.unpack_from("<HH", data, body_start)
                topic, _ = _string(data, body_start + 4)
                if cid not in self._channels:
                    self._channels[cid] = SalvagedConnection(cid, topic, self._schemas.get(sid, ("", ""))[0])
            elif op == OP_MESSAGE:
                cid, _, log_time = struct.unpack_from("<HIQ", data, body_start)
                conn = self._channels.get(cid)
                if conn is not None:
                    if index_only:
                        conn.msgcount += 1
                    else:
                        yield conn, log_time, data[body_start + 22:body_end]
            elif op == OP_CHUNK:
                comp, pos = _string(data, body_start + 28)
                (rlen,) = struct.unpack_from("<Q", data, pos)
                records = data[pos + 8:pos + 8 + rlen]
                if pos + 8 + rlen > body_end:
                    self.complete = False
                    return
                if comp:
                    records = _decompress(comp, records, struct.unpack_from("<Q", data, body_start + 16)[0])
                yield from self._walk(records, 0, len(records), index_only, top_level=False)
            off = body_end
            if top_level:
                self.bytes_read = off
        if top_level and off != end:
            self.complete = False

    def messages(self, connections: Sequence[SalvagedConnection] = ()) -> Iterator[Tuple[SalvagedConnection, int,
                                                                                           bytes]]:
        """(connection, log time, CDR bytes) of every complete message of the given connections, in file order."""
        wanted = {c.id for c in connections} if connections else None
        for conn, log_time, raw in self._records():
            if wanted is None or conn.id in wanted:
                yield conn, log_time, raw

    def deserialize(self, data: bytes, msgtype: str) -> object:
        """Decode CDR bytes of msgtype."""
        return self.typestore.deserialize_cdr(data, msgtype)

    def close(self) -> None:
        """Nothing to release (files are read whole)."""


def _string(data: bytes, pos: int) -> Tuple[str, int]:
    (n,) = struct.unpack_from("<I", data, pos)
    return data[pos + 4:pos + 4 + n].decode(), pos + 4 + n


def _decompress(compression: str, payload: bytes, size: int) -> bytes:
    if compression == "zstd":
        try:
            from compression import zstd  # Python 3.14+
        except ImportError:
            from backports import zstd   # rosbags' dependency on older Pythons
        return zstd.decompress(payload)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(payload)
    raise ValueError(f"unknown mcap chunk compression '{compression}'")


def salvage_reader(path: Union[str, Path]) -> Optional[SalvagedMcap]:
    """A SalvagedMcap over path when it holds mcap data, else None."""
    try:
        reader = SalvagedMcap(path)
    except (FileNotFoundError, OSError):
        return None
    return reader if reader.connections else None
