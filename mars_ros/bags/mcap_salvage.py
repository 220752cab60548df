"""Reading mcap bags chunk by chunk, so that damage costs only the chunks it hits.

rosbags reads an mcap through its summary: a truncated file (recorder killed before the footer) cannot be
opened, and a corrupt chunk ends the whole iteration. This reader uses the mcap package's record parsers and
summary reader, and checks every chunk on its own (record layout, sizes, the CRC where the writer wrote one,
log times inside the chunk's time range):

- with a usable summary (footer and chunk indexes), each indexed chunk is read by itself; a chunk that fails
  its checks is skipped, and its messages and time span are known from the index (of an uncompressed chunk
  without CRC, as rosbags writes them, the well-formed records before the damage are kept, but the last one,
  which the damage may have begun in);
- without one (file cut short, footer or summary damaged), the records are walked from the start; after a
  damaged record the walk resynchronises on the next chunk record that passes the same checks; the complete
  messages of an uncompressed chunk without CRC cut off by the end of the file are kept (a cut chunk with a
  CRC cannot be checked, so it is lost whole, like a cut compressed one).

Messages come in log-time order (chunks merged as rosbags merges them) through the part of rosbags' AnyReader
interface the counter uses (connections, messages, deserialize, close); `damage_report()` says what was lost.
"""
from __future__ import annotations

import heapq
import mmap
import struct
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from mcap.data_stream import ReadDataStream
from mcap.reader import SeekingReader
from mcap.records import Channel, MessageIndex, Schema
from mcap.summary import Summary
from rosbags.typesys import get_types_from_msg

from mars_ros.bags.typestore import mars_typestore

MAGIC = b"\x89MCAP0\r\n"
OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_MESSAGE_INDEX = 0x01, 0x02, 0x03, 0x04, 0x05, \
    0x06, 0x07
OP_DATA_END = 0x0F
TOP_LEVEL_OPCODES = frozenset(range(0x01, 0x10))   # the record kinds of the mcap specification
CHUNK_FIXED_BYTES = 8 + 8 + 8 + 4 + 4 + 8          # start, end, uncompressed size, crc, compression length, size
MESSAGE_HEADER_BYTES = 2 + 4 + 8 + 8               # channel id, sequence, log time, publish time
FOOTER_RECORD_BYTES = 9 + 8 + 8 + 4                # opcode, length, summary start, summary offset start, crc
COMPRESSIONS = ("", "zstd", "lz4")
NS_PER_S = 1_000_000_000


class McapDamage(ValueError):
    """A record that fails its checks (the message says which check)."""


class McapCut(ValueError):
    """A record that the end of the file cuts off."""


@dataclass
class McapConnection:
    """A channel of the bag (topic, type, messages the index or the first walk found)."""

    id: int
    topic: str
    msgtype: str
    msgcount: int = 0


@dataclass
class LostRecords:
    """A part of a file that could not be used: byte range, why, and what it held where that is known."""

    file: Path
    start: int                     # byte offsets in the file
    end: int
    reason: str
    messages: Optional[int] = None  # None: unknown (the index that would say is lost with it)
    start_ns: Optional[int] = None  # log-time span of the lost messages (or the gap they leave)
    end_ns: Optional[int] = None
    indexed: bool = False           # a chunk of the summary's index (its messages are in the statistics)
    partial: bool = False           # the chunk's messages before the damage were kept


@dataclass
class _Chunk:
    """A chunk record (or one loose message record) found in a file: where, its time range, its channels."""

    file_index: int
    offset: int
    start_ns: int
    end_ns: int
    channel_counts: Dict[int, int] = field(default_factory=dict)  # empty: unknown (read it to know)
    index: Optional[Dict[int, int]] = None   # message index offsets by channel, from the summary
    loose_message: bool = False              # a message record outside any chunk
    length: int = 0                          # the record's bytes, from the summary (0: from the file)


@dataclass
class _ParsedChunk:
    """What a chunk holds: its messages (log time, channel, CDR bytes), schemas, channels; cut: file ended."""

    start_ns: int
    end_ns: int
    record_end: int
    messages: List[Tuple[int, int, bytes]]
    schemas: List[Schema]
    channels: List[Channel]
    cut: bool = False
    salvage: bool = False   # no CRC, no compression: records before a damaged one are as good as any
    damage: str = ""        # why the records stop early (salvage), "" when the chunk is whole
    last_was_message: bool = False


class McapChunkReader:
    """Log-time-ordered reader over the readable chunks of one or more (possibly damaged) mcap files."""

    def __init__(self, path: Union[str, Path]) -> None:
        path = Path(path)
        files = [path] if path.is_file() else sorted(path.glob("*.mcap"))
        if not files:
            raise FileNotFoundError(f"no .mcap file in {path}")
        self.files = files
        self.typestore = mars_typestore()
        self._schema_names: Dict[int, str] = {}
        self._channels: Dict[int, McapConnection] = {}
        self._pending_channels: Dict[int, Tuple[str, int]] = {}   # channel id -> (topic, schema id)
        self._chunks: List[_Chunk] = []
        self._losses: Dict[Tuple[int, int], LostRecords] = {}
        self._orphans: Dict[int, int] = {}     # channel id without a channel record -> messages
        self._orphans_counted: Set[Tuple[int, int]] = set()   # indexed chunks whose orphans are counted
        self.without_summary: List[Path] = []  # files read by walking their records
        self._maps: List[mmap.mmap] = []
        try:
            for file_index, file in enumerate(files):
                self._open_file(file_index, file)
        except BaseException:
            self.close()
            raise
        self._chunks.sort(key=lambda c: (c.start_ns, c.file_index, c.offset))

    def _open_file(self, file_index: int, file: Path) -> None:
        """Map a file and index it: through its summary when usable, else by walking its records."""
        with file.open("rb") as fh:
            if file.stat().st_size < len(MAGIC):
                raise McapDamage(f"{file} is not an mcap file ({file.stat().st_size} bytes)")
            self._maps.append(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        if self._maps[-1][:len(MAGIC)] != MAGIC:
            raise McapDamage(f"{file} is not an mcap file (no mcap magic at its start)")
        summary = _usable_summary(file, self._maps[-1])
        if summary is not None:
            self._use_summary(file_index, summary)
        else:
            self.without_summary.append(file)
            self._walk(file_index)

    @property
    def connections(self) -> List[McapConnection]:
        """Every channel the summary or the readable chunks define."""
        return list(self._channels.values())

    @property
    def bytes_total(self) -> int:
        """Size of the bag's mcap files."""
        return sum(len(m) for m in self._maps)

    @property
    def losses(self) -> List[LostRecords]:
        """What could not be used so far (grows while messages are read through a summary), in file order."""
        return [self._losses[k] for k in sorted(self._losses)]

    def messages(self, connections: Sequence[McapConnection] = ()) -> Iterator[Tuple[McapConnection, int, bytes]]:
        """(connection, log time, CDR bytes) of every readable message of the given connections (all when
        empty), in log-time order; a chunk that fails its checks is skipped and recorded in losses."""
        wanted = {c.id for c in connections} if connections else set(self._channels)
        # A chunk is skipped only when it lists known channels and none of them is wanted (an index without
        # CRC may be damaged too: a channel id it lists that no channel record defines is read to be sure).
        sources = [self._chunk_messages(chunk, wanted) for chunk in self._chunks
                   if not chunk.channel_counts
                   or any(cid in wanted or cid not in self._channels for cid in chunk.channel_counts)]
        for log_time, _, _, _, conn, data in heapq.merge(*sources):
            if conn is not None:
                yield conn, log_time, data

    def _chunk_messages(self, chunk: _Chunk, wanted: Iterable[int]
                        ) -> Iterator[Tuple[int, int, int, int, Optional[McapConnection], bytes]]:
        """A chunk's wanted messages as merge keys; the chunk is read only when the merge reaches its start."""
        yield chunk.start_ns, chunk.file_index, chunk.offset, -1, None, b""  # placeholder: nothing read yet
        buf = self._maps[chunk.file_index]
        try:
            if chunk.loose_message:
                parsed = _read_loose_message(buf, chunk.offset)
            else:
                parsed = _read_chunk(buf, chunk.offset, len(buf), allow_cut=True)
                if chunk.index is not None and (parsed.start_ns, parsed.end_ns) != (chunk.start_ns, chunk.end_ns):
                    raise McapDamage("the chunk's time range differs from its index entry")
        except (McapDamage, McapCut) as exc:
            self._lose_indexed_chunk(chunk, str(exc))
            return
        self._learn(parsed)
        if parsed.damage and chunk.index is not None:   # (the walk recorded the damage of its chunks)
            self._lose_indexed_chunk(chunk, parsed.damage, kept=len(parsed.messages),
                                     kept_until=max(m[0] for m in parsed.messages))
        if chunk.index is not None and (chunk.file_index, chunk.offset) not in self._orphans_counted:
            self._orphans_counted.add((chunk.file_index, chunk.offset))   # (the walk counts its own)
            for _, cid, _ in parsed.messages:
                if cid not in self._channels:
                    self._orphans[cid] = self._orphans.get(cid, 0) + 1
        wanted_ids = set(wanted)
        records = sorted((m for m in parsed.messages if m[1] in wanted_ids), key=lambda m: m[0])
        for seq, (log_time, cid, data) in enumerate(records):
            conn = self._channels.get(cid)
            if conn is not None:
                yield log_time, chunk.file_index, chunk.offset, seq, conn, data

    def deserialize(self, data: bytes, msgtype: str) -> object:
        """Decode CDR bytes of msgtype."""
        return self.typestore.deserialize_cdr(data, msgtype)

    def close(self) -> None:
        """Release the file mappings."""
        for m in self._maps:
            try:
                m.close()
            except BufferError:  # a view still held by a caller's exception: the mapping goes with it
                pass
        self._maps = []

    def damage_report(self) -> List[str]:
        """One line per damaged part and what it cost, plus what was recovered; [] for an intact bag (a bag
        read through its summary reveals a bad chunk only when messages() reaches it)."""
        lines = [f"{file}: no usable mcap summary (the file is truncated: the recorder was killed before "
                 f"writing the footer, or its end is damaged); read its records from the start"
                 for file in self.without_summary]
        losses = self.losses
        origin = self._chunks[0].start_ns if self._chunks else None
        for loss in losses:
            lines.append(f"{loss.file}: bytes {loss.start}-{loss.end} unreadable ({loss.reason}): "
                         f"{_messages_text(loss.messages)} lost{_span_text(loss.start_ns, loss.end_ns, origin)}")
        for cid, n in sorted(self._orphans.items()):
            lines.append(f"{n} message(s) of channel {cid} unusable: no channel record defines it (lost or "
                         f"damaged)")
        if lines:
            known = [loss.messages for loss in losses if loss.messages is not None]
            unknown = len(losses) - len(known)
            lost = (f"{sum(known)} message(s)" + (" and an unknown number more" if unknown else "") if known
                    else "an unknown number of messages")
            lost_indexed = {(self.files.index(loss.file), loss.start) for loss in losses
                            if loss.indexed and not loss.partial}
            readable = [c for c in self._chunks if (c.file_index, c.offset) not in lost_indexed]
            recovered = (sum(c.msgcount for c in self._channels.values())
                         - sum(loss.messages or 0 for loss in losses if loss.indexed))
            span = (_span_text(min(c.start_ns for c in readable), max(c.end_ns for c in readable), origin)
                    if readable else "")
            lines.append(f"the bag is damaged: lost {lost} in {len(losses)} part(s); recovered {recovered} "
                         f"message(s) in {len(readable)} readable chunk(s){span}")
        return lines

    # -- the summary path -------------------------------------------------------------------------------------

    def _use_summary(self, file_index: int, summary: Summary) -> None:
        """Schemas, channels, message counts and chunks from a file's summary section."""
        for schema in summary.schemas.values():
            self._add_schema(schema)
        for channel in summary.channels.values():
            self._add_channel(channel.id, channel.topic, channel.schema_id)
        counts = summary.statistics.channel_message_counts if summary.statistics is not None else {}
        for cid, n in counts.items():
            if cid in self._channels:
                self._channels[cid].msgcount += n
        for ci in summary.chunk_indexes:
            self._chunks.append(_Chunk(file_index, ci.chunk_start_offset, ci.message_start_time,
                                       ci.message_end_time, {cid: 1 for cid in ci.message_index_offsets},
                                       dict(ci.message_index_offsets), length=ci.chunk_length))

    def _lose_indexed_chunk(self, chunk: _Chunk, reason: str, kept: int = 0, kept_until: Optional[int] = None
                            ) -> None:
        """Record a chunk of the index that failed its checks (kept: its messages before the damage that were
        kept, up to the log time kept_until), with its messages from the message index."""
        buf = self._maps[chunk.file_index]
        messages: Optional[int] = None
        if chunk.index:
            try:
                messages = sum(len(_message_index_at(buf, offset).records) for offset in chunk.index.values())
                messages -= kept
            except (McapDamage, McapCut):
                messages = None
        if kept:
            reason += f"; its {kept} well-formed message(s) before the damage were kept"
        if chunk.length:
            end = chunk.offset + chunk.length
        else:   # the record's own length field, which the damage may have hit
            length = struct.unpack_from("<Q", buf, chunk.offset + 1)[0] if chunk.offset + 9 <= len(buf) else 0
            end = min(len(buf), chunk.offset + 9 + length)
        self._losses[(chunk.file_index, chunk.offset)] = LostRecords(
            self.files[chunk.file_index], chunk.offset, end, f"chunk: {reason}", messages,
            chunk.start_ns if kept_until is None else kept_until, chunk.end_ns, indexed=chunk.index is not None,
            partial=kept > 0)

    # -- the walk without a summary ------------------------------------------------------------------------------

    def _walk(self, file_index: int) -> None:
        """Find the readable chunks of a file without summary by walking its records; resync after damage."""
        buf, file = self._maps[file_index], self.files[file_index]
        size, pos = len(buf), len(MAGIC)
        while pos < size:
            if pos + 9 > size:
                self._lose(file_index, pos, size, "the file ends inside a record header")
                break
            op = buf[pos]
            (length,) = struct.unpack_from("<Q", buf, pos + 1)
            record_end = pos + 9 + length
            if op == OP_CHUNK:
                try:
                    parsed = _read_chunk(buf, pos, size, allow_cut=True)
                except McapCut as exc:
                    if _next_chunk(buf, pos + 1, size) is None:   # else a damaged length, not the file's end
                        self._lose(file_index, pos, size, f"the file ends inside a chunk ({exc})")
                        break
                    pos = self._skip_damage(file_index, pos, f"chunk: its length overruns the file ({exc})")
                    continue
                except McapDamage as exc:
                    pos = self._skip_damage(file_index, pos, f"chunk: {exc}")
                    continue
                self._add_walked_chunk(file_index, pos, parsed)
                if parsed.cut:
                    kept_until = max((m[0] for m in parsed.messages), default=parsed.start_ns)
                    self._lose(file_index, pos, size, f"the file ends inside a chunk: its first "
                               f"{len(parsed.messages)} complete message(s) were kept, the rest is cut off",
                               start_ns=kept_until, end_ns=parsed.end_ns)
                    break
                if parsed.damage:   # its header and length are whole, its records stop early
                    total, _, _ = _message_indexes_after(buf, parsed.record_end)
                    kept = len(parsed.messages)
                    self._lose(file_index, pos, parsed.record_end, f"chunk: {parsed.damage}; its {kept} "
                               f"well-formed message(s) before the damage were kept",
                               None if total is None else total - kept,
                               max(m[0] for m in parsed.messages), parsed.end_ns)
                pos = parsed.record_end
            elif op in TOP_LEVEL_OPCODES and record_end <= size:
                if op in (OP_DATA_END, OP_FOOTER):
                    break   # the data section is over (the summary after it was found unusable)
                try:
                    self._top_level_record(file_index, buf, pos, op, record_end)
                except McapDamage as exc:
                    pos = self._skip_damage(file_index, pos, str(exc))
                    continue
                pos = record_end
            elif (op in TOP_LEVEL_OPCODES and _plausible_cut(buf, pos, op, length)
                  and _next_chunk(buf, pos + 1, size) is None):
                self._lose(file_index, pos, size, "the file ends inside a record")
                break
            else:
                pos = self._skip_damage(file_index, pos, f"invalid record (opcode 0x{op:02x}, length {length})")
        for loss in self._losses.values():
            if loss.file == file and loss.start_ns is None:
                loss.start_ns, loss.end_ns = self._gap_around(file_index, loss.start, loss.end)

    def _top_level_record(self, file_index: int, buf: mmap.mmap, pos: int, op: int, record_end: int) -> None:
        """Schemas and channels outside chunks are learnt, loose messages kept as one-message chunks."""
        if op == OP_SCHEMA:
            self._add_schema(_parse_record(Schema, buf[pos + 9:record_end]))
        elif op == OP_CHANNEL:
            channel = _parse_record(Channel, buf[pos + 9:record_end])
            self._add_channel(channel.id, channel.topic, channel.schema_id)
        elif op == OP_MESSAGE:
            parsed = _read_loose_message(buf, pos)
            self._add_walked_chunk(file_index, pos, parsed, loose=True)

    def _skip_damage(self, file_index: int, pos: int, reason: str) -> int:
        """Record the damaged record at pos and return where reading goes on: after the record when its length
        leads to a plausible record, else the next chunk that passes its checks, else the end of the file."""
        buf = self._maps[file_index]
        size = len(buf)
        (length,) = struct.unpack_from("<Q", buf, pos + 1)
        record_end = pos + 9 + length
        resync = _next_chunk(buf, pos + 1, size)
        if (buf[pos] == OP_CHUNK and length >= CHUNK_FIXED_BYTES and _plausible_record_at(buf, record_end)
                and (resync is None or record_end <= resync)):
            # Only the chunk's contents were hit (its length leads to a record, past no readable chunk): the
            # message index records after it say what it held.
            messages, start_ns, end_ns = _message_indexes_after(buf, record_end)
            self._lose(file_index, pos, record_end, reason, messages, start_ns, end_ns)
            return record_end
        end = size if resync is None else resync
        self._lose(file_index, pos, end, reason + ("" if resync is not None else
                                                  "; no readable chunk after it"))
        return end

    def _add_walked_chunk(self, file_index: int, offset: int, parsed: _ParsedChunk, loose: bool = False) -> None:
        """A chunk the walk found readable: learn its channels, count its messages."""
        self._learn(parsed)
        counts: Dict[int, int] = {}
        for _, cid, _ in parsed.messages:
            counts[cid] = counts.get(cid, 0) + 1
        for cid, n in counts.items():
            if cid in self._channels:
                self._channels[cid].msgcount += n
            else:
                self._orphans[cid] = self._orphans.get(cid, 0) + n
        if parsed.messages:   # the span of what it holds (a cut chunk's header promises more)
            times = [t for t, _, _ in parsed.messages]
            self._chunks.append(_Chunk(file_index, offset, min(times), max(times), counts, loose_message=loose))

    def _lose(self, file_index: int, start: int, end: int, reason: str, messages: Optional[int] = None,
              start_ns: Optional[int] = None, end_ns: Optional[int] = None) -> None:
        self._losses[(file_index, start)] = LostRecords(self.files[file_index], start, end, reason, messages,
                                                         start_ns, end_ns)

    def _gap_around(self, file_index: int, start: int, end: int) -> Tuple[Optional[int], Optional[int]]:
        """The log-time gap a lost byte range leaves: from the last readable chunk before it to the next."""
        before = [c.end_ns for c in self._chunks if c.file_index == file_index and c.offset < start]
        after = [c.start_ns for c in self._chunks if c.file_index == file_index and c.offset >= end]
        return (max(before) if before else None), (min(after) if after else None)

    # -- schemas and channels -------------------------------------------------------------------------------------

    def _learn(self, parsed: _ParsedChunk) -> None:
        for schema in parsed.schemas:
            self._add_schema(schema)
        for channel in parsed.channels:
            self._add_channel(channel.id, channel.topic, channel.schema_id)

    def _add_schema(self, schema: Schema) -> None:
        if schema.id in self._schema_names:
            return
        self._schema_names[schema.id] = schema.name
        if schema.name not in self.typestore.types:
            try:
                self.typestore.register(get_types_from_msg(schema.data.decode(), schema.name))
            except Exception:  # a definition this typestore cannot parse: the topic stays undecodable
                pass
        for cid, (topic, sid) in list(self._pending_channels.items()):
            if sid == schema.id:
                self._add_channel(cid, topic, sid)

    def _add_channel(self, cid: int, topic: str, schema_id: int) -> None:
        if cid in self._channels:
            return
        if schema_id not in self._schema_names:
            self._pending_channels[cid] = (topic, schema_id)   # its schema comes later (or was lost)
            return
        self._pending_channels.pop(cid, None)
        self._channels[cid] = McapConnection(cid, topic, self._schema_names[schema_id],
                                             self._orphans.pop(cid, 0))


def _usable_summary(file: Path, buf: mmap.mmap) -> Optional[Summary]:
    """The file's summary when the footer and its summary section read back and index the chunks, else None."""
    if len(buf) < 2 * len(MAGIC) or buf[-len(MAGIC):] != MAGIC:
        return None
    try:
        with file.open("rb") as fh:
            summary = SeekingReader(fh).get_summary()
    except Exception:  # any damage in the footer or summary: walk the records instead
        return None
    if summary is None or not summary.channels:
        return None
    for ci in summary.chunk_indexes:   # an index that points outside the file is damaged too
        if not 0 < ci.chunk_length <= len(buf) - ci.chunk_start_offset or buf[ci.chunk_start_offset] != OP_CHUNK:
            return None
    footer_start = len(buf) - len(MAGIC) - FOOTER_RECORD_BYTES
    if footer_start < len(MAGIC):
        return None
    summary_start, _, summary_crc = struct.unpack_from("<QQI", buf, footer_start + 9)
    if summary_crc and zlib.crc32(buf[summary_start:footer_start + FOOTER_RECORD_BYTES - 4]) != summary_crc:
        return None
    return summary


def _read_chunk(buf: Union[bytes, mmap.mmap], offset: int, limit: int, allow_cut: bool = False) -> _ParsedChunk:
    """The chunk record at offset, checked: McapDamage when a check fails, McapCut when limit cuts it off
    (allow_cut: an uncompressed chunk without CRC cut off by limit gives its complete records, marked cut)."""
    if offset + 9 + CHUNK_FIXED_BYTES > limit:
        raise McapCut("no room for a chunk header")
    if buf[offset] != OP_CHUNK:
        raise McapDamage(f"no chunk record (opcode 0x{buf[offset]:02x})")
    (length,) = struct.unpack_from("<Q", buf, offset + 1)
    body = offset + 9
    start_ns, end_ns, uncompressed_size, crc, name_length = struct.unpack_from("<QQQII", buf, body)
    if length < CHUNK_FIXED_BYTES or name_length > 8:
        raise McapDamage(f"implausible chunk header (record length {length}, compression name {name_length} B)")
    if body + CHUNK_FIXED_BYTES + name_length > limit:
        raise McapCut("no room for a chunk header")
    try:
        compression = bytes(buf[body + 32:body + 32 + name_length]).decode("ascii")
    except UnicodeDecodeError:
        raise McapDamage("the compression name is not text") from None
    if compression not in COMPRESSIONS:
        raise McapDamage(f"unknown compression '{compression}'")
    (data_length,) = struct.unpack_from("<Q", buf, body + 32 + name_length)
    data_start = body + CHUNK_FIXED_BYTES + name_length
    if CHUNK_FIXED_BYTES + name_length + data_length > length or start_ns > end_ns:
        raise McapDamage("the chunk's sizes or time range do not add up")
    cut = data_start + data_length > limit
    if not cut and offset + 9 + length > limit:
        raise McapDamage("the chunk's record length overruns the file, its data does not")
    if cut and not (allow_cut and compression == "" and not crc and offset + 9 + length > limit):
        missing = f"{data_start + data_length - limit} bytes missing"
        raise McapCut(missing + ("; with part of it gone its CRC cannot be checked" if crc else ""))
    # A view, not a copy: a resync candidate may claim most of the file before its records fail the checks.
    payload = memoryview(buf)[data_start:min(limit, data_start + data_length)]
    if cut:
        raw = payload
    else:
        raw = _decompress(compression, payload, uncompressed_size)
        if len(raw) != uncompressed_size:
            raise McapDamage(f"{len(raw)} bytes uncompressed, the header says {uncompressed_size}")
        if crc and zlib.crc32(raw) != crc:
            raise McapDamage("CRC mismatch")
    parsed = _ParsedChunk(start_ns, end_ns, offset + 9 + length, [], [], [], cut,
                          salvage=compression == "" and not crc and not cut)
    _walk_chunk_records(raw, parsed)
    if cut and not (parsed.messages or parsed.schemas or parsed.channels):
        raise McapCut("not one complete record before the end of the file")
    return parsed


def _walk_chunk_records(raw: Union[bytes, memoryview], parsed: _ParsedChunk) -> None:
    """Fill parsed from a chunk's records; every record must fit, be a schema/channel/message, and every
    message lie in the chunk's time range (a cut chunk stops at its first incomplete record)."""
    try:
        _walk_records(raw, parsed)
    except McapDamage as exc:
        if not parsed.salvage:
            raise
        # The damage begins after the last whole record header, so inside the last record read or later:
        # that record goes too; what comes before it is kept (there is no CRC that could say more).
        if parsed.messages and parsed.last_was_message:
            parsed.messages.pop()
        if not parsed.messages:
            raise
        parsed.damage = str(exc)


def _walk_records(raw: Union[bytes, memoryview], parsed: _ParsedChunk) -> None:
    """The checked walk of _walk_chunk_records (McapDamage at the first record that fails)."""
    pos, size = 0, len(raw)
    while pos < size:
        if pos + 9 > size:
            if parsed.cut:
                return
            raise McapDamage("a record header crosses the end of the chunk")
        op = raw[pos]
        (length,) = struct.unpack_from("<Q", raw, pos + 1)
        end = pos + 9 + length
        if end > size:
            if parsed.cut:
                return
            raise McapDamage(f"a record (opcode 0x{op:02x}, {length} B) crosses the end of the chunk")
        if op == OP_MESSAGE:
            if length < MESSAGE_HEADER_BYTES:
                raise McapDamage(f"a message record of {length} B")
            cid, _, log_time = struct.unpack_from("<HIQ", raw, pos + 9)
            if not parsed.start_ns <= log_time <= parsed.end_ns:
                raise McapDamage("a message's log time lies outside the chunk's time range")
            parsed.messages.append((log_time, cid, bytes(raw[pos + 9 + MESSAGE_HEADER_BYTES:end])))
            parsed.last_was_message = True
        elif op == OP_SCHEMA:
            parsed.schemas.append(_parse_record(Schema, bytes(raw[pos + 9:end])))
            parsed.last_was_message = False
        elif op == OP_CHANNEL:
            parsed.channels.append(_parse_record(Channel, bytes(raw[pos + 9:end])))
            parsed.last_was_message = False
        else:
            raise McapDamage(f"a record of kind 0x{op:02x} inside the chunk")
        pos = end


def _read_loose_message(buf: Union[bytes, mmap.mmap], offset: int) -> _ParsedChunk:
    """A message record outside any chunk, as a one-message chunk."""
    (length,) = struct.unpack_from("<Q", buf, offset + 1)
    if buf[offset] != OP_MESSAGE or length < MESSAGE_HEADER_BYTES or offset + 9 + length > len(buf):
        raise McapDamage("invalid message record")
    cid, _, log_time = struct.unpack_from("<HIQ", buf, offset + 9)
    data = bytes(buf[offset + 9 + MESSAGE_HEADER_BYTES:offset + 9 + length])
    return _ParsedChunk(log_time, log_time, offset + 9 + length, [(log_time, cid, data)], [], [])


def _parse_record(kind: type, body: bytes):  # type: ignore[no-untyped-def]
    """A Schema or Channel record body parsed by the mcap package (McapDamage when it does not parse)."""
    try:
        record = kind.read(ReadDataStream(BytesIO(body)))
        if kind is Channel:
            record.topic.encode()   # parsed strings must be text
        return record
    except Exception as exc:
        raise McapDamage(f"an unreadable {kind.__name__.lower()} record ({type(exc).__name__})") from None


def _message_index_at(buf: mmap.mmap, offset: int) -> MessageIndex:
    """The message index record at offset (McapDamage when it is not one)."""
    if offset + 9 > len(buf) or buf[offset] != OP_MESSAGE_INDEX:
        raise McapDamage("no message index record")
    (length,) = struct.unpack_from("<Q", buf, offset + 1)
    if offset + 9 + length > len(buf):
        raise McapCut("message index cut off")
    try:
        return MessageIndex.read(ReadDataStream(BytesIO(bytes(buf[offset + 9:offset + 9 + length]))))
    except Exception:
        raise McapDamage("unreadable message index record") from None


def _message_indexes_after(buf: mmap.mmap, pos: int) -> Tuple[Optional[int], Optional[int], Optional[int]]:
    """Messages and log-time span listed by the message index records that follow a chunk (None: none)."""
    messages, times = 0, []
    found = False
    while pos + 9 <= len(buf) and buf[pos] == OP_MESSAGE_INDEX:
        try:
            index = _message_index_at(buf, pos)
        except (McapDamage, McapCut):
            break
        found = True
        messages += len(index.records)
        times += [t for t, _ in index.records]
        pos += 9 + struct.unpack_from("<Q", buf, pos + 1)[0]
    if not found:
        return None, None, None
    return messages, (min(times) if times else None), (max(times) if times else None)


def _plausible_record_at(buf: mmap.mmap, pos: int) -> bool:
    """Whether a record (or the closing magic) starts at pos: a known opcode whose length fits the file."""
    if pos == len(buf) - len(MAGIC):
        return buf[pos:] == MAGIC
    if pos + 9 > len(buf):
        return False
    (length,) = struct.unpack_from("<Q", buf, pos + 1)
    return buf[pos] in TOP_LEVEL_OPCODES and pos + 9 + length <= len(buf)


def _plausible_cut(buf: mmap.mmap, pos: int, op: int, length: int) -> bool:
    """Whether a record overrunning the file end is a record the end cut off (not a damaged length): its
    length is at most what a record of that kind plausibly holds (a chunk was handled before)."""
    return op in (OP_MESSAGE_INDEX, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE) and length < 64 * 2**20


def _next_chunk(buf: mmap.mmap, start: int, size: int) -> Optional[int]:
    """The offset of the next chunk record after start that passes every check (None when there is none)."""
    pos = buf.find(bytes([OP_CHUNK]), start)
    while pos != -1:
        try:
            _read_chunk(buf, pos, size, allow_cut=True)
            return pos
        except (McapDamage, McapCut, struct.error):
            pos = buf.find(bytes([OP_CHUNK]), pos + 1)
    return None


def _decompress(compression: str, payload: Union[bytes, memoryview], size: int) -> Union[bytes, memoryview]:
    """A chunk's records, decompressed (McapDamage when the compressed data is corrupt)."""
    if compression == "":
        return payload
    try:
        if compression == "zstd":
            try:
                from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
            except ImportError:
                from backports import zstd   # type: ignore[no-redef]  # rosbags' dependency on older Pythons
            return bytes(zstd.decompress(payload))
        import lz4.frame

        return bytes(lz4.frame.decompress(payload))
    except Exception as exc:  # each library raises its own error type for corrupt input
        raise McapDamage(f"{compression} data corrupt ({type(exc).__name__})") from None


def _messages_text(n: Optional[int]) -> str:
    return "an unknown number of messages" if n is None else f"{n} message(s)"


def _span_text(start_ns: Optional[int], end_ns: Optional[int], origin: Optional[int]) -> str:
    """The log-time span as seconds after origin (the bag's first readable message)."""
    if start_ns is None and end_ns is None:
        return ""
    zero = origin if origin is not None else (start_ns if start_ns is not None else end_ns)
    assert zero is not None
    if start_ns is None or end_ns is None:
        edge = start_ns if start_ns is not None else end_ns
        assert edge is not None
        side = "after" if start_ns is not None else "before"
        return f" (log time {side} {(edge - zero) / NS_PER_S:.2f} s into the bag)"
    return (f", log time {(start_ns - zero) / NS_PER_S:.2f}-{(end_ns - zero) / NS_PER_S:.2f} s into the bag "
            f"({(end_ns - start_ns) / NS_PER_S:.2f} s)")


def open_mcap(path: Union[str, Path]) -> Optional[McapChunkReader]:
    """A McapChunkReader over the mcap files at path (a file or a bag folder), or None when there are none."""
    path = Path(path)
    if path.is_dir() and not any(path.glob("*.mcap")):
        return None
    if path.is_file() and path.suffix != ".mcap":
        return None
    return McapChunkReader(path)
